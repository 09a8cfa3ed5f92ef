"""Term lists for the citation verifier's clinical-term check (:mod:`agent.verify`).

Every list is written in plain words; :mod:`agent.verify` normalises them the way it
normalises sentences and evidence (lower case, hyphens and punctuation as spaces, simple
plural stripping), so spelling variants need not be listed.

- :data:`GENERIC_WORDS` never count as clinical terms: words a faithful paraphrase of any
  evidence line may use (record, history, active, taking, level, blood, …), qualifiers,
  dose forms, units, SNOMED semantic tags and the common words of record lines
  (employment, screening, examination, …).
- :data:`HIGH_RISK_TERMS` are checked even when no evidence of the session names them:
  common generic drug names, condition names, lab names, allergens, vaccines and
  procedures. Naming one without a cited item that supports it is a finding.
- :data:`DRUG_CLASSES` maps a class word to the drug-name stems of its members; a class
  is supported by a cited item that names a member (or by any cited medication or
  allergy item, whose product name the table may not know).
- :data:`SYNONYMS` maps a phrase to the words it stands for, applied to sentences and
  evidence alike ("high blood pressure" → "hypertension", "A1c" → "hba1c").
- :data:`RELATED_TERMS`: a condition supports the names of the measures it is defined by.
- :data:`NEGATION_CUES` / :data:`SCOPE_ENDS`: terms after a negation cue, up to the end of
  the clause, are not required to be in the cited items ("No penicillin allergy is
  recorded").
"""

from __future__ import annotations

__all__ = [
    "DRUG_CLASSES",
    "DRUG_NAMES",
    "GENERIC_WORDS",
    "HIGH_RISK_TERMS",
    "NEGATION_CUES",
    "RELATED_TERMS",
    "SCOPE_ENDS",
    "SYNONYMS",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


GENERIC_WORDS: frozenset[str] = _words(
    """
    a about above according across after again against ago all already also although am
    among an and another any anything are around as at available based be because been
    before being below besides between both but by can could currently did do does done
    during each either else ever every few for from further had has have having he her
    here hers herself him himself his how however if in including into is it its itself
    just latest least less like many may might more most much must my near neither never
    no none nor not now of off on once one only onto or other others otherwise our out
    over own per perhaps prior rather recent recently same several she should since so
    some such than that the their theirs them then there therefore these they this those
    though through throughout thus to too toward towards under until up upon us very via
    was we were what when where whereas whether which while who whom whose why will with
    within without would yet you your
    two three four five six seven eight nine ten twice first second third last next
    patient patients person woman man female male girl boy child adult record records
    recorded recording chart file entry entries history historical current active
    inactive resolved remission relapse recurrence status noted note notes documented
    list listed lists show shows showed shown indicate indicates indicated mention
    mentions mentioned report reports reported reporting state states stated
    available unavailable information data detail details item items evidence source
    known unknown unspecified other unclassified specified
    take takes taking took taken use uses using used start started starts starting stop
    stopped stopping continue continued continues ongoing begin began since until
    diagnose diagnosed diagnosis diagnoses confirmed suspected possible probable likely
    have has had get got receive received receives given give gave administer
    administered prescribe prescribed prescription prescriptions order ordered orders
    ordering fill filled refill refills dispense dispensed request requested treat
    treated treatment treatments manage managed management control controlled
    uncontrolled monitor monitored monitoring follow followed check checked checking
    test tests tested testing measure measured measurement measurements result results
    value values level levels reading readings score scores count counts ratio rate
    amount number total concentration reference range ranges normal abnormal high low
    elevated raised increased increase increasing rising rise rose decreased decrease
    decreasing falling fell fall drop dropped stable unchanged change changed changes
    trend trends improving improved worsening worsened better worse good poor borderline
    target goal optimal desirable above below within flag flagged interpretation
    lab labs laboratory vital vitals sign signs observation observations panel
    serum plasma blood urine specimen sample whole venous arterial capillary fasting
    random mass volume moles area predicted calculated estimated direct indirect
    automated manual method device
    time times date dates dated day days daily week weeks weekly month months monthly
    year years yearly annual annually hour hours minute minutes age aged old new
    morning evening night today yesterday latest earliest early late later earlier
    period episode episodes course
    visit visits encounter encounters appointment seen see saw admitted admission
    discharged discharge outpatient inpatient ambulatory office clinic hospital
    wellness well routine general examination exam check up review reviewed due
    medication medications medicine medicines drug drugs product products agent agents
    dose doses dosage dosing tablet tablets capsule capsules pill pills oral orally
    injection injections injectable solution suspension syrup cream ointment gel patch
    spray inhaler inhalation inhalant nasal topical extended release delayed
    prefilled syringe auto injector pen vial actuation actuat metered powder liquid
    chewable disintegrating sublingual intravenous subcutaneous intramuscular system
    transdermal intrauterine vaginal ophthalmic otic rectal suppository drop drops
    unit units mg mcg ug ml dl kg lb lbs percent per hr mmol umol mol meq iu kpa mmhg cm mm
    bpm min sec
    condition conditions problem problems disorder disorders disease diseases finding
    findings situation situations procedure procedures event events regime therapy
    therapies substance observable entity qualifier body structure morphologic
    abnormality clinical physical
    allergy allergies allergic allergen intolerance intolerant sensitivity sensitive
    reaction reactions criticality severity severe moderate mild acute chronic
    persistent intermittent recurrent primary secondary essential stage grade type
    class complicated uncomplicated associated related due
    immunization immunizations immunisation vaccine vaccines vaccination vaccinations
    vaccinated shot shots booster dose series preservative free
    care plan plans planned goal goals education educated advice advised counseling
    counselling referral referred self lifestyle regarding
    heart cardiac lung lungs pulmonary respiratory kidney kidneys renal liver hepatic
    skin bone bones joint joints muscle brain head neck chest abdomen back arm leg
    function functions health healthy medical clinical
    employment employed unemployed education educational housing transport
    transportation social contact stress environment violence criminal lack access
    risk activity activities involvement limited higher full part force labor
    questionnaire screening screen assessment assessed evaluation documentation
    reconciliation item nine scale
    presence detection probe naa dna rna assay immunoassay calculation formula strip
    dipstick appearance clarity color colour odor odour gravity specific width
    distribution mean enzymatic setting gas study image imaging view undated device
    address race language insurance preferred income point main service home aide
    nursing position prone placing subject object instrument removal open plain ray
    optical coherence camera lamp slit initial diagnostic consultation interview
    comprehensive coordination development individualized surveillance supplementary
    movement occupational mask administration suspected reason surgery surgical
    human regular isophane porcine hydrochloride hcl hydrobromide succinate sulfate
    tartrate besylate maleate mesylate fumarate citrate acetate propionate furoate
    loss caused severely non segment elevation behavior behaviour syndrome symptom
    symptoms generalized localized left right bilateral upper lower side
    eye eyes teeth tooth face hip knee forearm shoulder ankle wrist foot feet hand
    finger ear ears nose mouth throat stomach bowel
    deep highest past numeric rating verbal terminal children optional experience
    experiences assessing asset assets responding protocol quick basic identification
    consumption live living seasonal team artifact intervention disposition unhealthy
    taste macro valent adsorbed conjugate polysaccharide toxoid cognitive behavioral
    behavioural
    """
)

# Drug-class words: the stems (prefix or suffix of a drug name) of their members.
DRUG_CLASSES: dict[str, tuple[str, ...]] = {
    "statin": ("statin",),
    "ace inhibitor": ("pril",),
    "arb": ("sartan",),
    "angiotensin receptor blocker": ("sartan",),
    "beta blocker": ("olol", "alol", "ilol"),
    "calcium channel blocker": ("dipine", "verapamil", "diltiazem"),
    "diuretic": ("thiazide", "chlorthalidone", "furosemide", "bumetanide", "torsemide",
                 "spironolactone", "eplerenone", "indapamide", "triamterene"),
    "anticoagulant": ("warfarin", "heparin", "parin", "xaban", "dabigatran"),
    "blood thinner": ("warfarin", "heparin", "parin", "xaban", "dabigatran", "clopidogrel",
                      "aspirin", "ticagrelor", "prasugrel"),
    "antiplatelet": ("clopidogrel", "aspirin", "ticagrelor", "prasugrel"),
    "antibiotic": ("cillin", "mycin", "micin", "cycline", "floxacin", "cef", "ceph",
                   "penem", "sulfamethoxazole", "trimethoprim", "nitrofurantoin",
                   "metronidazole", "vancomycin", "linezolid", "clavulanate"),
    "nsaid": ("ibuprofen", "naproxen", "diclofenac", "celecoxib", "meloxicam", "aspirin",
              "ketorolac", "indomethacin", "etodolac", "nabumetone"),
    "opioid": ("codone", "morphine", "fentanyl", "tramadol", "codeine", "morphone",
               "methadone", "buprenorphine", "meperidine", "tapentadol", "sufentanil"),
    "ssri": ("sertraline", "fluoxetine", "citalopram", "paroxetine", "fluvoxamine"),
    "antidepressant": ("sertraline", "fluoxetine", "citalopram", "paroxetine",
                       "fluvoxamine", "bupropion", "venlafaxine", "duloxetine",
                       "mirtazapine", "trazodone", "triptyline", "doxepin"),
    "antihistamine": ("loratadine", "cetirizine", "fexofenadine", "diphenhydramine",
                      "hydroxyzine", "chlorpheniramine", "doxylamine"),
    "bronchodilator": ("albuterol", "salbutamol", "salmeterol", "formoterol", "tiotropium",
                       "ipratropium", "umeclidinium", "aclidinium"),
    "steroid": ("sone", "solone", "dexamethasone", "hydrocortisone", "fluticasone",
                "budesonide", "beclomethasone", "mometasone", "triamcinolone", "cortisone"),
    "corticosteroid": ("sone", "solone", "dexamethasone", "hydrocortisone", "fluticasone",
                       "budesonide", "beclomethasone", "mometasone", "triamcinolone"),
    "proton pump inhibitor": ("prazole",),
    "ppi": ("prazole",),
    "sglt2": ("gliflozin",),
    "sulfonylurea": ("glipizide", "glyburide", "glimepiride", "gliclazide"),
    "antidiabetic": ("metformin", "gliptin", "gliflozin", "glutide", "glipizide",
                     "glyburide", "glimepiride", "insulin", "glitazone"),
    "antihypertensive": ("pril", "sartan", "olol", "dipine", "thiazide", "clonidine",
                         "hydralazine", "chlorthalidone", "doxazosin", "terazosin"),
    "contraceptive": ("estradiol", "ethinyl", "levonorgestrel", "norethindrone",
                      "drospirenone", "etonogestrel", "medroxyprogesterone",
                      "norgestimate", "desogestrel", "norelgestromin"),
    "benzodiazepine": ("azepam", "azolam", "chlordiazepoxide"),
    "antipsychotic": ("haloperidol", "risperidone", "olanzapine", "quetiapine",
                      "aripiprazole", "ziprasidone", "clozapine", "lurasidone"),
}  # fmt: skip

_DRUGS = """
    acetaminophen paracetamol albuterol alendronate allopurinol alprazolam alteplase
    amiodarone amitriptyline amlodipine amoxicillin ampicillin anastrozole apixaban
    aripiprazole aspirin atenolol atorvastatin azithromycin baclofen benazepril
    bisoprolol budesonide bumetanide buprenorphine bupropion buspirone canagliflozin
    captopril carbamazepine carvedilol cefalexin cephalexin ceftriaxone cefuroxime
    celecoxib cetirizine chlorthalidone ciprofloxacin citalopram clarithromycin
    clavulanate clindamycin clonazepam clonidine clopidogrel codeine colchicine
    cyclobenzaprine cyclosporine dabigatran dapagliflozin dexamethasone diazepam
    diclofenac digoxin diltiazem diphenhydramine donepezil doxycycline dulaglutide
    duloxetine empagliflozin enalapril enoxaparin epinephrine escitalopram esomeprazole
    estradiol ezetimibe famotidine fentanyl fexofenadine finasteride fluconazole
    fluoxetine fluticasone furosemide gabapentin galantamine glimepiride glipizide
    glyburide haloperidol heparin hydralazine hydrochlorothiazide hydrocodone
    hydrocortisone hydromorphone hydroxychloroquine hydroxyzine ibuprofen insulin
    ipratropium irbesartan isosorbide ketorolac lamotrigine lansoprazole levetiracetam
    levofloxacin levonorgestrel levothyroxine lidocaine linagliptin liraglutide
    lisinopril lithium loratadine lorazepam losartan lovastatin meclizine
    medroxyprogesterone meloxicam memantine meperidine metformin methadone methotrexate
    methylphenidate methylprednisolone metoclopramide metoprolol metronidazole midazolam
    mirtazapine montelukast morphine naloxone naltrexone naproxen nicotine nifedipine
    nitrofurantoin nitroglycerin norethindrone nortriptyline olanzapine olmesartan
    omeprazole ondansetron oseltamivir oxybutynin oxycodone pantoprazole paroxetine
    penicillin phenytoin pioglitazone pravastatin prednisolone prednisone pregabalin
    promethazine propranolol quetiapine ramipril ranitidine risperidone rivaroxaban
    rosuvastatin sacubitril salmeterol semaglutide sertraline sildenafil simvastatin
    sitagliptin spironolactone sulfamethoxazole tacrolimus tamoxifen tamsulosin
    terbinafine ticagrelor tiotropium tirzepatide topiramate tramadol trazodone
    triamcinolone trimethoprim valacyclovir valsartan vancomycin venlafaxine verapamil
    warfarin zolpidem
"""
_CONDITIONS = """
    hypertension hypotension diabetes prediabetes hyperlipidemia hypercholesterolemia
    hypertriglyceridemia dyslipidemia obesity asthma copd emphysema bronchitis
    bronchiolitis pneumonia sinusitis pharyngitis tonsillitis otitis laryngitis anemia
    osteoporosis osteopenia osteoarthritis arthritis gout depression anxiety
    schizophrenia bipolar dementia alzheimer parkinson epilepsy seizure migraine stroke
    infarction angina fibrillation cardiomyopathy neuropathy nephropathy retinopathy
    hypothyroidism hyperthyroidism cancer carcinoma neoplasm tumor lymphoma leukemia
    melanoma cirrhosis hepatitis pancreatitis appendicitis cholecystitis gastritis
    gastroenteritis gerd reflux ulcer colitis crohn diverticulitis cystitis
    pyelonephritis sepsis hiv tuberculosis fracture concussion sprain dermatitis eczema
    psoriasis hypoglycemia hyperglycemia apnea insomnia adhd autism alcoholism
    thrombosis embolism aneurysm atherosclerosis gingivitis endometriosis infertility
    preeclampsia glaucoma cataract rhinitis urticaria anaphylaxis hemophilia
    lupus
"""
_LABS = """
    glucose hba1c cholesterol ldl hdl triglyceride creatinine egfr bun urea sodium
    potassium chloride bicarbonate calcium magnesium phosphate albumin bilirubin alt ast
    hemoglobin hematocrit platelet leukocyte tsh psa inr troponin ferritin
"""
_ALLERGENS = "peanut shellfish latex pollen dander ragweed mold venom"
_VACCINES = """
    influenza tetanus diphtheria pertussis tdap hpv papillomavirus pneumococcal zoster
    shingles measles mumps rubella varicella polio rotavirus meningococcal
"""
_PROCEDURES = """
    colonoscopy mammography appendectomy cholecystectomy hysterectomy cesarean
    angioplasty catheterization dialysis hemodialysis chemotherapy radiotherapy
    transplant biopsy endoscopy echocardiography electrocardiography spirometry
    vasectomy tonsillectomy arthroplasty cardioversion pacemaker intubation
"""


#: Condition names of more than one word (each checked as a whole phrase).
_MULTIWORD = (
    "heart failure",
    "kidney disease",
    "renal failure",
    "coronary artery disease",
    "myocardial infarction",
    "atrial fibrillation",
    "sickle cell",
    "cystic fibrosis",
    "multiple sclerosis",
)

#: Generic drug names (a subset of :data:`HIGH_RISK_TERMS`).
DRUG_NAMES: frozenset[str] = frozenset(_DRUGS.split())

HIGH_RISK_TERMS: frozenset[str] = (
    frozenset(" ".join([_DRUGS, _CONDITIONS, _LABS, _ALLERGENS, _VACCINES, _PROCEDURES]).split())
    | frozenset(_MULTIWORD)
    | frozenset(DRUG_CLASSES)
)

SYNONYMS: dict[str, str] = {
    "high blood pressure": "hypertension",
    "htn": "hypertension",
    "high cholesterol": "hyperlipidemia",
    "hypercholesterolemia": "hyperlipidemia",
    "dyslipidemia": "hyperlipidemia",
    "diabetic": "diabetes",
    "t2dm": "diabetes",
    "t1dm": "diabetes",
    "dm2": "diabetes",
    "low blood sugar": "hypoglycemia",
    "high blood sugar": "hyperglycemia",
    "blood sugar": "glucose",
    "a1c": "hba1c",
    "hgba1c": "hba1c",
    "hemoglobin a1c": "hba1c",
    "haemoglobin a1c": "hba1c",
    "glycated hemoglobin": "hba1c",
    "glycohemoglobin": "hba1c",
    "glycosylated hemoglobin": "hba1c",
    "haemoglobin": "hemoglobin",
    "hgb": "hemoglobin",
    "anaemia": "anemia",
    "glomerular filtration rate": "egfr",
    "gfr": "egfr",
    "urea nitrogen": "bun",
    "blood urea nitrogen": "bun",
    "ldl c": "ldl",
    "low density lipoprotein": "ldl",
    "hdl c": "hdl",
    "high density lipoprotein": "hdl",
    "triglycerides": "triglyceride",
    "microalbumin": "albumin",
    "white blood cell": "leukocyte",
    "white cell": "leukocyte",
    "wbc": "leukocyte",
    "platelets": "platelet",
    "plt": "platelet",
    "thyrotropin": "tsh",
    "thyroid stimulating hormone": "tsh",
    "body mass index": "bmi",
    "heart attack": "myocardial infarction",
    "afib": "atrial fibrillation",
    "a fib": "atrial fibrillation",
    "chronic obstructive pulmonary disease": "copd",
    "chronic obstructive lung disease": "copd",
    "ckd": "kidney disease",
    "chronic kidney disease": "kidney disease",
    "chf": "heart failure",
    "cad": "coronary artery disease",
    "coronary heart disease": "coronary artery disease",
    "ischemic heart disease": "coronary artery disease",
    "covid 19": "coronavirus",
    "covid": "coronavirus",
    "sars cov 2": "coronavirus",
    "flu": "influenza",
    "shingle": "zoster",
    "shingles": "zoster",
    "chickenpox": "varicella",
    "chicken pox": "varicella",
    "whooping cough": "pertussis",
    "mmr": "measles mumps rubella",
    "mammogram": "mammography",
    "echocardiogram": "echocardiography",
    "ecg": "electrocardiography",
    "ekg": "electrocardiography",
    "electrocardiogram": "electrocardiography",
    "c section": "cesarean",
    "caesarean": "cesarean",
    "paracetamol": "acetaminophen",
    "salbutamol": "albuterol",
    "cefalexin": "cephalexin",
    "overweight": "obesity",
    "obese": "obesity",
    "asthmatic": "asthma",
    "hypertensive": "hypertension",
    "anemic": "anemia",
    "arthritic": "arthritis",
    "depressed": "depression",
    "depressive": "depression",
    "anxious": "anxiety",
    "tumour": "tumor",
    "oesophageal": "esophageal",
    "statins": "statin",
}

#: A condition supports a sentence's mention of the measures it is defined by ("Her
#: cholesterol is high" citing Hyperlipidemia); numbers still need the lab itself.
RELATED_TERMS: dict[str, str] = {
    "hyperlipidemia": "cholesterol ldl hdl lipid triglyceride",
    "hypertriglyceridemia": "triglyceride lipid",
    "diabetes": "glucose hba1c",
    "prediabetes": "glucose hba1c",
    "hyperglycemia": "glucose",
    "hypoglycemia": "glucose",
    "hypertension": "pressure",
    "hypotension": "pressure",
    "anemia": "hemoglobin hematocrit",
    "kidney disease": "creatinine egfr albumin",
    "obesity": "bmi weight",
}

NEGATION_CUES: frozenset[str] = _words(
    "no not never none without denies denied deny negative absent neither nor nothing "
    "cannot nkda nka"
)
#: Words (and any of , ; : ( ) ) that end a negation's scope.
SCOPE_ENDS: frozenset[str] = _words("but however although though whereas while yet except")
