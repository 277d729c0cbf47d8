# Makes R's own files and what lme4 fits on them, for tests/test_rfiles.py and
# tests/test_contrasts.py:
#   tests/reference/rfiles_orthodont.rds   saveRDS(d): nlme's Orthodont (Sex levels Male,
#                                          Female; Subject an ordered factor) plus `dose`, a
#                                          factor with levels low, mid, high, and `grade`, an
#                                          ordered factor low < mid < high < top
#   tests/reference/rfiles.RData           save(model, orthodont, ages, contr4, notes,
#                                          compress = "xz"): the data frame and four objects
#                                          that are not one, first a fitted lmer model (an S4
#                                          object, which librdata cannot read)
#   tests/reference/rfiles_vector.rds      saveRDS(c(a = 1, b = 2)): not a data frame
#   tests/reference/rfiles.json            levels(), R's contrast matrices, and fixef, SEs,
#                                          logLik (and lmerTest's type III anova) of lmer fits
#                                          with factors in R's level order, C(f, contr.*),
#                                          relevel() and ordered factors (contr.poly)
# Run from the repository root with `Rscript tests/reference/make_rfiles.R` (R 4.2.2, lme4
# 1.1.31, lmerTest 3.1.3, nlme 3.1.161 from Debian). The tests never run R; they read these.
suppressMessages({library(lmerTest); library(nlme); library(jsonlite)})
ref <- function(name) file.path("tests", "reference", name)

d <- as.data.frame(Orthodont)
attributes(d) <- attributes(d)[c("names", "row.names", "class")]
class(d) <- "data.frame"
# Made-up factors that vary within subjects, with levels that are not in alphabetical order.
d$dose <- factor(c("low", "mid", "high")[seq_len(nrow(d)) %% 3 + 1], levels = c("low", "mid", "high"))
set.seed(20240501)
d$grade <- factor(sample(c("low", "mid", "high", "top"), nrow(d), replace = TRUE),
                  levels = c("low", "mid", "high", "top"), ordered = TRUE)
saveRDS(d, ref("rfiles_orthodont.rds"))
orthodont <- d
ages <- sort(unique(d$age))
contr4 <- contr.poly(4)
notes <- list(source = "nlme::Orthodont", extra = c("dose", "grade"))
model <- lmer(distance ~ age + (1 | Subject), d)
save(model, orthodont, ages, contr4, notes, file = ref("rfiles.RData"), compress = "xz")
saveRDS(c(a = 1, b = 2), ref("rfiles_vector.rds"))

fit_of <- function(id, formula, anova3 = FALSE) {
  m <- lmer(as.formula(formula), d)
  out <- list(
    id = id, formula = formula,
    r_call = sprintf("m <- lmer(%s, readRDS(\"rfiles_orthodont.rds\")); fixef(m); sqrt(diag(vcov(m))); logLik(m)", formula),
    fixef_names = names(fixef(m)), fixef = unname(fixef(m)),
    fixef_se = unname(sqrt(diag(as.matrix(vcov(m))))), loglik = as.numeric(logLik(m)))
  if (anova3) {
    a <- anova(m, type = 3)
    out$anova3 <- list(r_call = "anova(m, type = 3)", term = rownames(a),
                       num_df = a$NumDF, den_df = a$DenDF, f_value = a[["F value"]])
  }
  out
}
fits <- list(
  fit_of("sex_levels", "distance ~ age * Sex + (1 | Subject)"),
  fit_of("dose_levels", "distance ~ age + dose + (1 | Subject)"),
  fit_of("dose_no_intercept", "distance ~ 0 + dose + age + (1 | Subject)"),
  fit_of("grade_ordered_poly", "distance ~ age + grade + (1 | Subject)", anova3 = TRUE),
  fit_of("grade_ordered_by_age", "distance ~ age * grade + (1 | Subject)", anova3 = TRUE),
  fit_of("sex_sum", "distance ~ age * C(Sex, contr.sum) + (1 | Subject)", anova3 = TRUE),
  # C() reads a bare name as the contrast's name (sum: contr.sum), as it reads a string.
  fit_of("sex_sum_bare_name", "distance ~ age * C(Sex, sum) + (1 | Subject)"),
  fit_of("sex_treatment_bare_name", "distance ~ age + C(Sex, treatment) + (1 | Subject)"),
  fit_of("dose_helmert_bare_name", "distance ~ age + C(dose, helmert) + (1 | Subject)"),
  fit_of("grade_poly_bare_name", "distance ~ age + C(grade, poly) + (1 | Subject)"),
  fit_of("dose_sum_string", "distance ~ age + C(dose, \"contr.sum\") + (1 | Subject)"),
  fit_of("dose_helmert", "distance ~ age + C(dose, contr.helmert) + (1 | Subject)"),
  fit_of("dose_poly", "distance ~ age + C(dose, contr.poly) + (1 | Subject)"),
  # A contrast function (not its name) is called with the number of levels: columns are
  # named by level number, 2, 3, 4, not by level.
  fit_of("grade_treatment", "distance ~ age + C(grade, contr.treatment) + (1 | Subject)"),
  fit_of("grade_treatment_string", "distance ~ age + C(grade, \"contr.treatment\") + (1 | Subject)"),
  fit_of("grade_sas", "distance ~ age + C(grade, contr.SAS) + (1 | Subject)"),
  fit_of("grade_sas_string", "distance ~ age + C(grade, \"contr.SAS\") + (1 | Subject)"),
  fit_of("dose_relevel", "distance ~ age * relevel(dose, ref = \"mid\") + (1 | Subject)", anova3 = TRUE),
  fit_of("dose_relevel_positional", "distance ~ age + relevel(dose, \"high\") + (1 | Subject)"),
  fit_of("sex_relevel", "distance ~ age * relevel(Sex, ref = \"Female\") + (1 | Subject)"),
  fit_of("dose_sum_by_sex", "distance ~ age + C(dose, contr.sum) * Sex + (1 | Subject)", anova3 = TRUE)
)

contrasts <- list(
  list(call = "contr.treatment(3)", matrix = unname(contr.treatment(3)), colnames = colnames(contr.treatment(3))),
  list(call = "contr.sum(3)", matrix = unname(contr.sum(3)), colnames = colnames(contr.sum(3))),
  list(call = "contr.sum(5)", matrix = unname(contr.sum(5)), colnames = colnames(contr.sum(5))),
  list(call = "contr.helmert(4)", matrix = unname(contr.helmert(4)), colnames = colnames(contr.helmert(4))),
  list(call = "contr.poly(4)", matrix = unname(contr.poly(4)), colnames = colnames(contr.poly(4))),
  list(call = "contr.poly(7)", matrix = unname(contr.poly(7)), colnames = colnames(contr.poly(7))),
  list(call = "contr.SAS(3)", matrix = unname(contr.SAS(3)), colnames = colnames(contr.SAS(3)))
)

out <- list(
  levels = list(
    r_call = "lapply(readRDS(\"rfiles_orthodont.rds\")[c(\"Subject\", \"Sex\", \"dose\", \"grade\")], levels); sapply(..., is.ordered)",
    Subject = levels(d$Subject), Sex = levels(d$Sex), dose = levels(d$dose), grade = levels(d$grade),
    ordered = list(Subject = is.ordered(d$Subject), Sex = is.ordered(d$Sex),
                   dose = is.ordered(d$dose), grade = is.ordered(d$grade))),
  data = list(r_call = "as.character(d$dose); as.character(d$grade) (row order of data/orthodont.csv)",
              distance = d$distance, dose = as.character(d$dose), grade = as.character(d$grade)),
  contrasts = contrasts,
  fits = fits)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"), ref("rfiles.json"))
