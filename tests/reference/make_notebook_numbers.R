# Makes tests/reference/notebook_numbers.json: R's values of the key numbers the notebooks in
# notebooks/ compute and print, one block per notebook. tests/test_notebooks.py runs every
# notebook from a fresh kernel, evaluates the matching Python expression in the notebook's
# namespace and compares. Run from the repository root with
# `Rscript tests/reference/make_notebook_numbers.R` (R 4.2.2, lme4 1.1.31, lmerTest 3.1.3,
# nlme 3.1.162, performance 0.10.2, emmeans 1.8.4). The tests never run R.
#
# Every entry is list(value = <number>, r = "<the R expression that made it>"); the
# expressions use the object names of the notebooks (m_ri, m_rs, ...), made below with the
# R call the notebook shows beside its own.
suppressMessages({
  library(lmerTest); library(nlme); library(performance); library(emmeans); library(jsonlite)
})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)

out <- list(generated_with = list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  lme4 = as.character(packageVersion("lme4")), lmerTest = as.character(packageVersion("lmerTest")),
  nlme = as.character(packageVersion("nlme")),
  performance = as.character(packageVersion("performance")),
  emmeans = as.character(packageVersion("emmeans"))))

# One block of entries: each argument is an R expression (a string) evaluated in `env`.
block <- function(env, ...) {
  exprs <- list(...)
  lapply(exprs, function(e) list(value = unname(as.numeric(eval(parse(text = e), env))), r = e))
}
mix2 <- function(chisq) 0.5 * pchisq(chisq, 1, lower.tail = FALSE) + 0.5 * pchisq(chisq, 2, lower.tail = FALSE)
mix1 <- function(chisq) 0.5 * pchisq(chisq, 1, lower.tail = FALSE)
vc <- function(m) as.data.frame(VarCorr(m))

# ---------------------------------------------------------------- 01 Exam
e01 <- new.env()
with(e01, {
  Exam <- rd("exam", c(school = "character", student = "character"))
  m_ri <- lme4::lmer(normexam ~ standLRT + (1 | school), Exam)
  m_rs <- lme4::lmer(normexam ~ standLRT + (1 + standLRT | school), Exam)
  m0 <- lme4::lmer(normexam ~ standLRT + (1 | school), Exam, REML = FALSE)
  m1 <- lme4::lmer(normexam ~ standLRT + (1 + standLRT | school), Exam, REML = FALSE)
  m_diag <- lme4::lmer(normexam ~ standLRT + (1 + standLRT || school), Exam, REML = FALSE)
  m_slope <- lme4::lmer(normexam ~ standLRT + (0 + standLRT | school), Exam, REML = FALSE)
  ols <- coef(lme4::lmList(normexam ~ standLRT | school, Exam))
})
out[["01_exam_random_intercepts_and_slopes"]] <- block(e01,
  ri_reml_criterion = "REMLcrit(m_ri)",
  ri_var_school = "vc(m_ri)$vcov[1]",
  ri_var_residual = "vc(m_ri)$vcov[2]",
  ri_icc_adjusted = "performance::icc(m_ri)$ICC_adjusted",
  ri_icc_unadjusted = "performance::icc(m_ri)$ICC_unadjusted",
  ri_r2_marginal = "performance::r2_nakagawa(m_ri)$R2_marginal",
  ri_r2_conditional = "performance::r2_nakagawa(m_ri)$R2_conditional",
  ri_marginal_cov_offdiag = "vc(m_ri)$vcov[1]",
  rs_fixef_standLRT = "fixef(m_rs)[['standLRT']]",
  rs_se_standLRT = "sqrt(diag(vcov(m_rs)))[2]",
  rs_sd_slope = "vc(m_rs)$sdcor[2]",
  rs_corr = "vc(m_rs)$sdcor[3]",
  rs_sigma = "sigma(m_rs)",
  rs_coef_school1_intercept = "coef(m_rs)$school['1', '(Intercept)']",
  rs_condsd_school1_intercept = "sqrt(attr(ranef(m_rs, condVar = TRUE)$school, 'postVar')[1, 1, 1])",
  ols_sd_slopes = "sd(ols[, 'standLRT'])",
  lrt_m0_m1 = "anova(m0, m1)$Chisq[2]",
  p_m0_m1 = "anova(m0, m1)[['Pr(>Chisq)']][2]",
  p_mixture_m0_m1 = "mix2(anova(m0, m1)$Chisq[2])",
  lrt_m0_diag = "anova(m0, m_diag)$Chisq[2]",
  p_mixture_m0_diag = "mix1(anova(m0, m_diag)$Chisq[2])",
  lrt_diag_m1 = "anova(m_diag, m1)$Chisq[2]",
  lrt_slope_diag = "anova(m_slope, m_diag)$Chisq[2]",
  aic_m1 = "AIC(m1)", aic_m_diag = "AIC(m_diag)", aic_m0 = "AIC(m0)", aic_m_slope = "AIC(m_slope)",
  bic_m1 = "BIC(m1)", bic_m_diag = "BIC(m_diag)",
  weight_m1 = "a <- AIC(m_slope, m0, m_diag, m1)$AIC; w <- exp(-(a - min(a)) / 2); (w / sum(w))[4]")

# ---------------------------------------------------------------- 02 Orthodont, two stages
e02 <- new.env()
with(e02, {
  Orthodont <- rd("orthodont", c(Subject = "character", Sex = "character"))
  stage1 <- coef(lme4::lmList(distance ~ I(age - 11) | Subject, Orthodont))
  sex <- tapply(Orthodont$Sex, Orthodont$Subject, `[`, 1)[rownames(stage1)]
  m_rs <- lme4::lmer(distance ~ I(age - 11) * Sex + (I(age - 11) | Subject), Orthodont)
  m_ri <- lme4::lmer(distance ~ I(age - 11) * Sex + (1 | Subject), Orthodont)
  m_sex <- lme4::lmer(distance ~ I(age - 11) * Sex + (0 + dummy(Sex, "Female") | Subject) +
                        (0 + dummy(Sex, "Male") | Subject), Orthodont)
  m_vi <- lme(distance ~ I(age - 11) * Sex, Orthodont, random = ~ 1 | Subject,
              weights = varIdent(form = ~ 1 | Sex))
  own_M13 <- coef(m_rs)$Subject["M13", ]
})
out[["02_two_stage_view_orthodont"]] <- block(e02,
  stage2_girls_slope_mean = "mean(stage1[sex == 'Female', 2])",
  stage2_boys_intercept_mean = "mean(stage1[sex == 'Male', 1])",
  stage2_boys_slope_sd = "sd(stage1[sex == 'Male', 2])",
  rs_fixef_interaction = "fixef(m_rs)[['I(age - 11):SexMale']]",
  rs_var_intercept = "vc(m_rs)$vcov[1]",
  rs_var_slope = "vc(m_rs)$vcov[2]",
  rs_sigma = "sigma(m_rs)",
  rs_M13_slope = "own_M13[['I(age - 11)']] + own_M13[['I(age - 11):SexMale']]",
  lrt_ri_rs = "anova(m_ri, m_rs)$Chisq[2]",
  p_mixture_ri_rs = "mix2(anova(m_ri, m_rs)$Chisq[2])",
  sex_sd_female = "vc(m_sex)$sdcor[1]",
  sex_sd_male = "vc(m_sex)$sdcor[2]",
  lrt_ri_sex = "anova(m_ri, m_sex)$Chisq[2]",
  p_ri_sex = "anova(m_ri, m_sex)[['Pr(>Chisq)']][2]",
  resid_sd_male = "sd(resid(m_ri)[Orthodont$Sex == 'Male'])",
  vi_sd_ratio = "coef(m_vi$modelStruct$varStruct, unconstrained = FALSE)[['Male']]",
  vi_loglik = "logLik(m_vi)",
  vi_aic = "AIC(m_vi)",
  ri_aic = "AIC(m_ri)")

# ---------------------------------------------------------------- 03 Orthodont, covariance
e03 <- new.env()
with(e03, {
  Orthodont <- rd("orthodont", c(Subject = "character", Sex = "character"))
  f <- distance ~ Sex * I(age - 11)
  byage <- varIdent(form = ~ 1 | age)
  fits <- list(
    UN = gls(f, Orthodont, correlation = corSymm(form = ~ 1 | Subject), weights = byage),
    CS = gls(f, Orthodont, correlation = corCompSymm(form = ~ 1 | Subject)),
    CSH = gls(f, Orthodont, correlation = corCompSymm(form = ~ 1 | Subject), weights = byage),
    AR1 = gls(f, Orthodont, correlation = corAR1(form = ~ 1 | Subject)),
    ARH1 = gls(f, Orthodont, correlation = corAR1(form = ~ 1 | Subject), weights = byage),
    TOEP = gls(f, Orthodont, correlation = corARMA(p = 3, form = ~ 1 | Subject)))
  wide <- matrix(resid(lm(f, Orthodont)), ncol = 4, byrow = TRUE)
  ri <- lmerTest::lmer(distance ~ Sex * I(age - 11) + (1 | Subject), Orthodont)
  se <- function(k) sqrt(diag(vcov(fits[[k]])))[["SexMale:I(age - 11)"]]
  ml <- function(k) update(fits[[k]], method = "ML")
})
out[["03_repeated_measures_covariance"]] <- block(e03,
  data_cor_8_14 = "cor(wide)[1, 4]",
  loglik_UN = "logLik(fits$UN)", loglik_CS = "logLik(fits$CS)", loglik_CSH = "logLik(fits$CSH)",
  loglik_AR1 = "logLik(fits$AR1)", loglik_ARH1 = "logLik(fits$ARH1)",
  loglik_TOEP = "logLik(fits$TOEP)",
  aic_UN = "AIC(fits$UN)", aic_CS = "AIC(fits$CS)", aic_TOEP = "AIC(fits$TOEP)",
  aic_AR1 = "AIC(fits$AR1)",
  bic_CS = "BIC(fits$CS)", bic_UN = "BIC(fits$UN)",
  un_cor_14_8 = "corMatrix(fits$UN$modelStruct$corStruct)[[1]][4, 1]",
  un_cor_14_12 = "corMatrix(fits$UN$modelStruct$corStruct)[[1]][4, 3]",
  cs_rho = "coef(fits$CS$modelStruct$corStruct, unconstrained = FALSE)[[1]]",
  ar1_phi = "coef(fits$AR1$modelStruct$corStruct, unconstrained = FALSE)[[1]]",
  toep_lag2 = "corMatrix(fits$TOEP$modelStruct$corStruct)[[1]][3, 1]",
  se_interaction_CS = "se('CS')", se_interaction_AR1 = "se('AR1')", se_interaction_UN = "se('UN')",
  lrt_cs_un = "anova(ml('CS'), ml('UN'))$L.Ratio[2]",
  ri_F_interaction = "anova(ri)['Sex:I(age - 11)', 'F value']",
  ri_p_interaction = "anova(ri)['Sex:I(age - 11)', 'Pr(>F)']",
  ri_loglik = "logLik(ri)")

# ---------------------------------------------------------------- 04 BodyWeight
e04 <- new.env()
with(e04, {
  BodyWeight <- rd("bodyweight", c(Rat = "character", Diet = "character"))
  f <- weight ~ Time * Diet
  m_ind <- lme(f, BodyWeight, random = ~ Time | Rat)
  m_car <- lme(f, BodyWeight, random = ~ Time | Rat, correlation = corCAR1(form = ~ Time | Rat))
  m_nug <- lme(f, BodyWeight, random = ~ Time | Rat,
               correlation = corExp(form = ~ Time | Rat, nugget = TRUE))
  p <- coef(m_nug$modelStruct$corStruct, unconstrained = FALSE)
  lrt <- anova(update(m_car, method = "ML"), update(m_nug, method = "ML"))$L.Ratio[2]
})
out[["04_serial_correlation_and_measurement_error"]] <- block(e04,
  ind_sd_intercept = "as.numeric(VarCorr(m_ind)[1, 'StdDev'])",
  ind_sigma = "m_ind$sigma",
  variog_first = "Variogram(m_ind, form = ~ Time | Rat, resType = 'normalized')$variog[1]",
  loglik_ind = "logLik(m_ind)", loglik_car = "logLik(m_car)", loglik_nug = "logLik(m_nug)",
  aic_nug = "AIC(m_nug)", bic_car = "BIC(m_car)",
  car_phi = "coef(m_car$modelStruct$corStruct, unconstrained = FALSE)[[1]]",
  nug_range = "p[['range']]", nug_nugget = "p[['nugget']]", nug_sigma = "m_nug$sigma",
  lrt_car_nug = "lrt",
  p_mixture_car_nug = "mix1(lrt)",
  se_time_diet2_nug = "sqrt(diag(m_nug$varFix))[['Time:Diet2']]")

# ---------------------------------------------------------------- 05 crossed
e05 <- new.env()
with(e05, {
  Penicillin <- rd("penicillin", c(plate = "character", sample = "character"))
  m_pen <- lmerTest::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
  ci <- confint(m_pen)
  InstEval <- rd("insteval", c(s = "character", d = "character", studage = "character",
                                lectage = "character", dept = "character"))
  m_ie <- lme4::lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), InstEval)
})
out[["05_crossed_random_effects"]] <- block(e05,
  pen_reml_criterion = "REMLcrit(m_pen)",
  pen_var_plate = "vc(m_pen)$vcov[1]", pen_var_sample = "vc(m_pen)$vcov[2]",
  pen_sigma = "sigma(m_pen)",
  pen_icc = "performance::icc(m_pen)$ICC_adjusted",
  pen_ci_sample_lower = "ci['.sig02', '2.5 %']", pen_ci_sample_upper = "ci['.sig02', '97.5 %']",
  pen_ci_plate_upper = "ci['.sig01', '97.5 %']",
  pen_ranova_lrt_plate = "ranova(m_pen)[['LRT']][2]",
  ie_reml_criterion = "REMLcrit(m_ie)",
  ie_var_s = "vc(m_ie)$vcov[vc(m_ie)$grp == 's']",
  ie_var_d = "vc(m_ie)$vcov[vc(m_ie)$grp == 'd']",
  ie_var_dept_service = "vc(m_ie)$vcov[vc(m_ie)$grp == 'dept:service']",
  ie_sigma = "sigma(m_ie)",
  ie_service = "fixef(m_ie)[['service']]",
  ie_se_service = "sqrt(diag(vcov(m_ie)))[2]",
  ie_icc = "performance::icc(m_ie)$ICC_adjusted",
  ie_wald_service_upper = "confint(m_ie, parm = 'service', method = 'Wald')[1, 2]")

# ---------------------------------------------------------------- 06 for R users
e06 <- new.env()
with(e06, {
  sleep <- rd("sleepstudy", c(Subject = "character"))
  orth <- rd("orthodont", c(Subject = "character", Sex = "character"))
  m <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleep)
  mt <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleep)
  m0 <- lme4::lmer(Reaction ~ Days + (1 | Subject), sleep)
  nd <- data.frame(Days = c(0, 5, 10), Subject = "308")
  ci <- confint(m)
  mo <- lmerTest::lmer(distance ~ Sex * age + (1 | Subject), orth)
  em <- as.data.frame(emmeans(mo, ~ Sex))
  pr <- as.data.frame(pairs(emmeans(mo, ~ Sex | age, at = list(age = c(8, 14)))))
  ml <- lme(Reaction ~ Days, sleep, random = ~ 1 | Subject,
            correlation = corAR1(form = ~ Days | Subject))
  mg <- gls(Reaction ~ Days, sleep, correlation = corAR1(form = ~ Days | Subject))
})
out[["06_for_r_users_side_by_side"]] <- block(e06,
  reml_criterion = "REMLcrit(m)",
  fixef_days = "fixef(m)[['Days']]",
  se_days = "sqrt(diag(vcov(m)))[2]",
  satterthwaite_df_days = "summary(mt)$coefficients['Days', 'df']",
  satterthwaite_p_days = "summary(mt)$coefficients['Days', 'Pr(>|t|)']",
  ranef_309_intercept = "ranef(m)$Subject['309', '(Intercept)']",
  varcorr_cov = "as.data.frame(VarCorr(m))$vcov[3]",
  coef_308_days = "coef(m)$Subject['308', 'Days']",
  predict_308_day10 = "predict(m, newdata = nd)[[3]]",
  predict_population_day10 = "predict(m, newdata = nd, re.form = NA)[[3]]",
  profile_sig01_upper = "ci['.sig01', '97.5 %']",
  profile_sig02_lower = "ci['.sig02', '2.5 %']",
  profile_days_lower = "ci['Days', '2.5 %']",
  wald_days_upper = "confint(m, method = 'Wald')['Days', '97.5 %']",
  anova_F_days = "anova(mt)['Days', 'F value']",
  anova_kr_dendf = "anova(mt, ddf = 'Kenward-Roger')['Days', 'DenDF']",
  lrt_m0_m = "anova(m0, m)$Chisq[2]",
  p_mixture_m0_m = "mix2(anova(m0, m)$Chisq[2])",
  ranova_lrt = "ranova(mt)$LRT[2]",
  emmean_male = "em$emmean[em$Sex == 'Male']",
  emmean_male_se = "em$SE[em$Sex == 'Male']",
  contrast_age14 = "pr$estimate[pr$age == 14]",
  contrast_age14_df = "pr$df[pr$age == 14]",
  contrast_age14_p = "pr$p.value[pr$age == 14]",
  glance_bic = "BIC(m)",
  augment_fixed_3 = "predict(m, re.form = NA)[[3]]",
  icc_adjusted = "performance::icc(m)$ICC_adjusted",
  icc_unadjusted = "performance::icc(m)$ICC_unadjusted",
  r2_marginal = "performance::r2_nakagawa(m)$R2_marginal",
  r2_conditional = "performance::r2_nakagawa(m)$R2_conditional",
  lme_loglik = "logLik(ml)",
  lme_phi = "coef(ml$modelStruct$corStruct, unconstrained = FALSE)[[1]]",
  lme_sigma = "ml$sigma",
  lme_se_days = "sqrt(diag(ml$varFix))[['Days']]",
  lme_marginal_cov_1_3 = "getVarCov(ml, individuals = '308', type = 'marginal')[[1]][1, 3]",
  gls_loglik = "logLik(mg)",
  gls_phi = "coef(mg$modelStruct$corStruct, unconstrained = FALSE)[[1]]",
  gls_sigma = "mg$sigma",
  gls_bic = "BIC(mg)")

# ---------------------------------------------------------------- 07 glmer, binary and counts
# lme4's default glmerControl, as the notebook's R calls; its convergence warnings on the
# Contraception fits (max|grad| just above 0.002, "very large eigenvalue" from the scale of
# I(age^2)) are discussed in the notebook.
e07 <- new.env()
with(e07, {
  Contraception <- read.csv(file.path("data", "contraception.csv"), stringsAsFactors = TRUE,
                            colClasses = c(woman = "character", district = "character"))
  f1 <- use ~ age + I(age^2) + urban + livch + (urban | district)
  f0 <- use ~ age + I(age^2) + urban + livch + (1 | district)
  suppressWarnings({
    m1 <- glmer(f1, Contraception, binomial)
    m0 <- glmer(f0, Contraception, binomial)
    m0_agq <- glmer(f0, Contraception, binomial, nAGQ = 9)
  })
  or <- exp(cbind(OR = fixef(m1), confint(m1, parm = "beta_", method = "Wald")))
  nd <- data.frame(age = 0, livch = "1", urban = c("N", "Y"), district = "1")
  em <- as.data.frame(emmeans(m1, ~ urban, type = "response"))
  cbpp <- read.csv(file.path("data", "cbpp.csv"), stringsAsFactors = TRUE,
                   colClasses = c(herd = "character", period = "character"))
  g25 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial,
               nAGQ = 25)
  # lme4's nAGQ > 1 logLik is relative to the saturated model (lme4 issue #161): add the
  # saturated log-likelihood back for the marginal log-likelihood.
  saturated <- sum(dbinom(cbpp$incidence, cbpp$size, cbpp$incidence / cbpp$size, log = TRUE))
  Owls <- read.csv(file.path("data", "owls.csv"), stringsAsFactors = TRUE)
  fo <- SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)
  mp <- glmer(fo, Owls, poisson)
  mnb <- glmer.nb(fo, Owls)
  od <- suppressWarnings(performance::check_overdispersion(mp))
})
out[["07_glmer_binary_and_counts"]] <- block(e07,
  m1_loglik = "logLik(m1)",
  m1_fixef_urban = "fixef(m1)[['urbanY']]",
  m1_se_urban = "sqrt(diag(vcov(m1)))[['urbanY']]",
  m1_var_urban = "vc(m1)$vcov[2]",
  m1_or_urban_upper = "or['urbanY', '97.5 %']",
  m1_predict_urban_population = "predict(m1, newdata = nd, type = 'response', re.form = NA)[[2]]",
  m1_emmean_urban = "em$prob[em$urban == 'Y']",
  m1_icc_adjusted = "suppressWarnings(performance::icc(m1)$ICC_adjusted)",
  m1_r2_conditional = "suppressWarnings(performance::r2_nakagawa(m1)$R2_conditional)",
  lrt_m0_m1 = "anova(m0, m1)$Chisq[2]",
  m0_agq_loglik = "logLik(m0_agq)",
  cbpp_agq25_loglik = "logLik(g25) + saturated",
  mp_loglik = "logLik(mp)",
  mp_fixef_satiated = "fixef(mp)[['FoodTreatmentSatiated']]",
  mp_se_satiated = "sqrt(diag(vcov(mp)))[['FoodTreatmentSatiated']]",
  overdispersion_ratio = "od$dispersion_ratio",
  nb_theta = "getME(mnb, 'glmer.nb.theta')",
  nb_loglik = "logLik(mnb)",
  nb_fixef_satiated = "fixef(mnb)[['FoodTreatmentSatiated']]",
  nb_var_nest = "vc(mnb)$vcov[1]")

write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      file.path("tests", "reference", "notebook_numbers.json"))
