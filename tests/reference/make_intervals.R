# Makes tests/reference/intervals.json: lme4's confidence intervals (profile, Wald and
# parametric bootstrap), the profiles themselves, and bootMer summaries. Run from the
# repository root with `Rscript tests/reference/make_intervals.R` (R 4.2.2, lme4 1.1-31,
# boot 1.3). The tests never run R; they read the JSON this writes.
#
# Every model is fitted as lmer fits it by default (REML); lme4's profile() refits a REML
# fit by maximum likelihood before profiling (devfun2 calls refitML), so the profile
# intervals are those of the ML fit, while Wald intervals use the REML fit's vcov and the
# bootstrap refits by REML.
suppressMessages({library(lme4); library(jsonlite)})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
sleep <- rd("sleepstudy", c(Subject = "character"))
exam <- rd("exam", c(school = "character", student = "character"))
dye <- rd("dyestuff", c(Batch = "character"))
pen <- rd("penicillin", c(plate = "character", sample = "character"))

ci_list <- function(ci) {
  list(parm = rownames(ci), columns = colnames(ci),
       lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}

# lme4's own statistic for confint(method = "boot"): standard deviations and correlations
# scaled by sigma, sigma, then the fixed effects (lme4:::confint.merMod's bootFun).
boot_fun <- function(x) {
  vn <- c(sprintf(".sig%02d", seq_along(getME(x, "theta"))), ".sigma")
  ss <- lme4:::Cv_to_Sv(getME(x, "theta"), n = lengths(x@cnms), s = sigma(x))
  c(setNames(ss, vn), fixef(x))
}

one_model <- function(m, call, nsim = 0, seed = NA, levels = c(0.95)) {
  out <- list(r_call = call, reml = isREML(m))
  out$t0 <- as.list(boot_fun(m))
  for (lev in levels) {
    key <- sprintf("%g", 100 * lev)
    out$profile[[key]] <- ci_list(confint(m, method = "profile", level = lev, quiet = TRUE))
    out$wald[[key]] <- ci_list(confint(m, method = "Wald", level = lev))
  }
  pr <- as.data.frame(profile(m))
  out$profile_table <- list(
    r_call = paste0("as.data.frame(profile(", call, "))"),
    par = as.character(pr$.par), zeta = pr$.zeta, focal = pr$.focal,
    values = lapply(pr[, setdiff(names(pr), c(".zeta", ".par", ".focal"))], unname))
  if (nsim > 0) {
    ci <- confint(m, method = "boot", nsim = nsim, seed = seed, quiet = TRUE)
    out$boot_confint <- c(
      list(r_call = sprintf("confint(m, method = \"boot\", nsim = %d, seed = %d)", nsim, seed)),
      ci_list(ci))
    bb <- bootMer(m, boot_fun, nsim = nsim, seed = seed)
    tt <- bb$t
    out$bootmer <- list(
      r_call = sprintf("bootMer(m, FUN, nsim = %d, seed = %d)$t, summarised by column", nsim, seed),
      names = colnames(tt), n_ok = unname(colSums(is.finite(tt))),
      mean = unname(colMeans(tt, na.rm = TRUE)), sd = unname(apply(tt, 2, sd, na.rm = TRUE)),
      perc_lower = unname(confint(bb, type = "perc")[, 1]),
      perc_upper = unname(confint(bb, type = "perc")[, 2]))
  }
  out
}

out <- list()
out$sleepstudy <- one_model(
  lmer(Reaction ~ Days + (Days | Subject), sleep),
  "lmer(Reaction ~ Days + (Days | Subject), sleepstudy)",
  nsim = 500, seed = 101, levels = c(0.95, 0.9))
out$sleepstudy_ml <- one_model(
  lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE),
  "lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)")
out$sleepstudy_diag <- one_model(
  lmer(Reaction ~ Days + (Days || Subject), sleep),
  "lmer(Reaction ~ Days + (Days || Subject), sleepstudy)")
out$exam <- one_model(
  lmer(normexam ~ standLRT + (1 + standLRT | school), exam),
  "lmer(normexam ~ standLRT + (1 + standLRT | school), Exam)",
  nsim = 500, seed = 202)
out$dyestuff <- one_model(
  lmer(Yield ~ 1 + (1 | Batch), dye),
  "lmer(Yield ~ 1 + (1 | Batch), Dyestuff)")
out$penicillin <- one_model(
  lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen),
  "lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)")
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE, na = "null"),
           "tests/reference/intervals.json")
