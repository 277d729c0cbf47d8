# Makes tests/reference/kenward_roger.json: Kenward-Roger F tests (lmerTest's
# anova(m, type = 3, ddf = "Kenward-Roger"), through pbkrtest) and Kenward-Roger t-tests on
# a model with 4,059 rows, beyond the shared reference's small cases. Run from the
# repository root with `Rscript tests/reference/make_kenward_roger.R` (R 4.2.2, lmerTest
# 3.1.3, pbkrtest 0.5.2 from Debian). The tests never run R; they read the JSON this writes.
suppressMessages({library(lmerTest); library(pbkrtest); library(jsonlite)})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
orth <- rd("orthodont", c(Subject = "character"))
mach <- rd("machines", c(Worker = "character"))
exam <- rd("exam", c(school = "character", student = "character"))

kr_anova <- function(m, call) {
  a <- anova(m, type = 3, ddf = "Kenward-Roger")
  list(r_call = paste0("anova(", call, ", type = 3, ddf = \"Kenward-Roger\")"),
       term = rownames(a), sum_sq = a[["Sum Sq"]], mean_sq = a[["Mean Sq"]],
       num_df = a$NumDF, den_df = a$DenDF, f_value = a[["F value"]], p_value = a[["Pr(>F)"]])
}
out <- list()
out$orthodont_rs <- kr_anova(lmer(distance ~ age * Sex + (age | Subject), orth),
                             "lmer(distance ~ age * Sex + (age | Subject), Orthodont)")
out$machines_nested <- kr_anova(lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), mach),
                                "lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), Machines)")
out$machines_un <- kr_anova(lmer(score ~ Machine + (0 + Machine | Worker), mach),
                            "lmer(score ~ Machine + (0 + Machine | Worker), Machines)")
m <- lmer(normexam ~ standLRT + sex + (standLRT | school), exam)
co <- summary(m, ddf = "Kenward-Roger")$coefficients
out$exam_sex_t <- list(
  r_call = "summary(lmer(normexam ~ standLRT + sex + (standLRT | school), Exam), ddf = \"Kenward-Roger\")$coefficients",
  term = rownames(co), std_error = unname(co[, "Std. Error"]), df = unname(co[, "df"]),
  p_value = unname(co[, "Pr(>|t|)"]))
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE), "tests/reference/kenward_roger.json")
