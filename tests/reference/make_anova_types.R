# Makes tests/reference/anova_types.json: lmerTest's F tests of types I, II and III
# (anova(m, type = t, ddf = d)) on models with several fixed terms, numeric-by-factor and
# factor-by-factor interactions. Run from the repository root with
# `Rscript tests/reference/make_anova_types.R` (R 4.2.2, lmerTest 3.1.3, pbkrtest 0.5.2).
# The tests never run R; they read the JSON this writes.
suppressMessages({library(lmerTest); library(jsonlite)})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
data <- list(
  exam = rd("exam", c(school = "character", student = "character")),
  orthodont = rd("orthodont", c(Subject = "character")),
  cake = rd("cake", c(replicate = "character", temperature = "character")),
  sleepstudy = rd("sleepstudy", c(Subject = "character"))
)
models <- list(
  list(id = "exam_factors", dataset = "exam",
       formula = "normexam ~ standLRT + sex + schgend + (1 | school)"),
  list(id = "exam_sex_by_vr", dataset = "exam",
       formula = "normexam ~ standLRT + sex * vr + (1 | school)"),
  list(id = "orthodont_rs", dataset = "orthodont",
       formula = "distance ~ age * Sex + (age | Subject)"),
  list(id = "cake_interaction", dataset = "cake",
       formula = "angle ~ recipe * temp + (1 | recipe:replicate)"),
  list(id = "cake_factor_by_factor", dataset = "cake",
       formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"),
  list(id = "sleep_quadratic", dataset = "sleepstudy",
       formula = "Reaction ~ Days + I(Days^2) + (Days | Subject)")
)
out <- list()
for (m in models) {
  fit <- lmer(as.formula(m$formula), data[[m$dataset]])
  for (type in 1:3) for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    a <- anova(fit, type = type, ddf = ddf)
    out[[length(out) + 1]] <- list(
      id = m$id, dataset = m$dataset, formula = m$formula, type = type, ddf = ddf,
      r_call = sprintf("anova(lmer(%s, %s), type = %d, ddf = \"%s\")", m$formula, m$dataset, type, ddf),
      term = rownames(a), sum_sq = a[["Sum Sq"]], num_df = a$NumDF, den_df = a$DenDF,
      f_value = a[["F value"]], p_value = a[["Pr(>F)"]])
  }
}
writeLines(toJSON(out, digits = NA, pretty = TRUE), "tests/reference/anova_types.json")
