# Makes tests/reference/extra.json: lme4 values for grammar features, accessors and
# missing-data handling that ../shared/reference does not cover. Run from the repository
# root with `Rscript tests/reference/make_extra.R` (R 4.2.2, lme4 1.1.31 from Debian).
# The tests never run R; they read the JSON this writes.
suppressMessages({library(lme4); library(jsonlite)})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
exam <- rd("exam", c(school = "character", student = "character"))
sleep <- rd("sleepstudy", c(Subject = "character"))
mach <- rd("machines", c(Worker = "character"))
orth <- rd("orthodont", c(Subject = "character"))
ctl <- lmerControl(optimizer = "bobyqa")

summ <- function(m, call) {
  vc <- as.data.frame(VarCorr(m))
  vc[is.na(vc)] <- ""
  list(r_call = call, loglik = as.numeric(logLik(m)), nobs = nobs(m),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       sigma = sigma(m), varcorr = vc)
}
out <- list()

e2 <- exam; e2$standLRT[c(4, 11)] <- NA; e2$normexam[21] <- NA
m <- lmer(normexam ~ standLRT + (1 | school), e2)
out$exam_missing <- summ(m, "exam with standLRT[c(4, 11)] and normexam[21] NA; lmer(normexam ~ standLRT + (1 | school))")

m <- lmer(normexam ~ standLRT + (1 | school) + (0 + standLRT | school), exam)
out$exam_two_terms <- summ(m, "lmer(normexam ~ standLRT + (1 | school) + (0 + standLRT | school), exam)")

m <- lmer(Reaction ~ poly(Days, 2) + (1 | Subject), sleep)
out$sleep_poly <- summ(m, "lmer(Reaction ~ poly(Days, 2) + (1 | Subject), sleepstudy)")
m <- lmer(Reaction ~ scale(Days) + (1 | Subject), sleep)
out$sleep_scale <- summ(m, "lmer(Reaction ~ scale(Days) + (1 | Subject), sleepstudy)")
m <- lmer(Reaction ~ Days + offset(2 * Days) + (1 | Subject), sleep)
out$sleep_offset <- summ(m, "lmer(Reaction ~ Days + offset(2 * Days) + (1 | Subject), sleepstudy)")
m <- lmer(log(Reaction) ~ Days + I(Days^2) + (1 | Subject), sleep)
out$sleep_log_I <- summ(m, "lmer(log(Reaction) ~ Days + I(Days^2) + (1 | Subject), sleepstudy)")
m <- lmer(Reaction/100 ~ Days + (Days | Subject), sleep)
out$sleep_response_arith <- summ(m, "lmer(Reaction/100 ~ Days + (Days | Subject), sleepstudy)")
m <- lmer(distance ~ factor(age) + Sex + (1 | Subject), orth)
out$orth_factor <- summ(m, "lmer(distance ~ factor(age) + Sex + (1 | Subject), Orthodont)")
m <- lmer(score ~ Machine + (1 | Worker) + (0 + dummy(Machine, "B") | Worker), mach)
out$machines_dummy <- summ(m, "lmer(score ~ Machine + (1 | Worker) + (0 + dummy(Machine, 'B') | Worker), Machines)")
# lme4 1.1.31 predates reformulas' (1 | a * b); this is its expansion.
# (Machine is not also a fixed effect here: its variance would not be identified.)
m <- lmer(score ~ 1 + (1 | Worker) + (1 | Machine) + (1 | Worker:Machine), mach)
out$machines_star <- summ(m, "lmer(score ~ 1 + (1 | Worker) + (1 | Machine) + (1 | Worker:Machine), Machines)")
m <- lmer(score ~ 0 + Machine + (1 | Worker/Machine), mach)
out$machines_nested_slash <- summ(m, "lmer(score ~ 0 + Machine + (1 | Worker/Machine), Machines)")

# prior weights
sleep$w <- 1 + sleep$Days / 10
m <- lmer(Reaction ~ Days + (Days | Subject), sleep, weights = w)
out$sleep_weights <- summ(m, "lmer(Reaction ~ Days + (Days | Subject), sleepstudy, weights = 1 + Days/10)")
out$sleep_weights$pearson_quantiles <- unname(quantile(residuals(m, type = "pearson") / sigma(m)))
m <- lmer(Reaction ~ Days + (Days | Subject), sleep, weights = w, REML = FALSE)
out$sleep_weights_ml <- summ(m, "lmer(Reaction ~ Days + (Days | Subject), sleepstudy, weights = 1 + Days/10, REML = FALSE)")

# accessors on the seed example
m <- lmer(normexam ~ standLRT + (1 + standLRT | school), exam)
cf <- coef(m)$school
out$exam_rs_coef_head <- list(r_call = "head(coef(m)$school, 5)", level = rownames(cf)[1:5],
  intercept = cf[1:5, "(Intercept)"], standLRT = cf[1:5, "standLRT"])
rows <- which(exam$school == "1")
Zt <- getME(m, "Zt")[, rows]; Lt <- getME(m, "Lambdat")
V <- sigma(m)^2 * (as.matrix(crossprod(Lt %*% Zt)) + diag(length(rows)))
out$exam_rs_marginal_cov_school1 <- list(
  r_call = "sigma(m)^2 * (crossprod(getME(m,'Lambdat') %*% getME(m,'Zt')[, rows]) + I), rows of school '1'",
  n = length(rows), head4 = unname(V[1:4, 1:4]), trace = sum(diag(V)), total = sum(V))
nd <- exam[c(1, 2, 100, 200, 300), c("normexam", "standLRT", "school")]
nd$school[c(2, 4)] <- "new"
out$exam_rs_predict_newdata <- list(
  r_call = "predict(m, newdata = exam[c(1,2,100,200,300), ] with school[c(2,4)] = 'new', allow.new.levels = TRUE)",
  school = nd$school, standLRT = nd$standLRT,
  full = unname(predict(m, newdata = nd, allow.new.levels = TRUE)),
  fixed = unname(predict(m, newdata = nd, re.form = NA)))
res <- residuals(m)
out$exam_rs_residuals <- list(r_call = "head(residuals(m), 5); quantile(residuals(m, type = 'pearson', scaled = TRUE))",
  head = unname(res[1:5]), scaled_quantiles = unname(quantile(residuals(m, scaled = TRUE))))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/extra.json")

# Printed summaries, byte for byte, for the layout tests (tests/test_summary_text.py).
dir.create("tests/reference/summaries", showWarnings = FALSE)
pastes <- rd("pastes", c(batch = "character", cask = "character", sample = "character"))
m <- lmer(strength ~ 1 + (1 | batch/cask), pastes)
writeLines(capture.output(print(summary(m))), "tests/reference/summaries/pastes.txt")
m <- lmer(normexam ~ standLRT + sex + schgend + (1 | school), exam)
m@call$data <- quote(exam)
writeLines(capture.output(print(summary(m))), "tests/reference/summaries/exam_factors.txt")
