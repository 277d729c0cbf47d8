# Makes tests/reference/selection.json: R reference values for comparing and choosing
# models: nlme's fits of the Orthodont marginal models (logLik, AIC, BIC and their ranking),
# nlme's likelihood-ratio tests between nested covariance structures, lmerTest's ranova(),
# lme4's anova(m0, m1) with the boundary-mixture p-value computed by hand, and AIC() tables
# with Akaike weights. Run from the repository root with
# `Rscript tests/reference/make_selection.R` (R 4.2.2, lme4 1.1.31, lmerTest 3.1.3,
# nlme 3.1.162 from Debian). The tests never run R; they read the JSON this writes.
#
# Every entry carries r_call, the R expression that made its numbers. The mixture p-values
# (Self & Liang 1987, Stram & Lee 1994) are written out as the R expression in
# "mixture_call".
suppressMessages({library(lmerTest); library(nlme); library(jsonlite)})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
orth <- rd("orthodont", c(Subject = "character"))
sleep <- rd("sleepstudy", c(Subject = "character"))
exam <- rd("exam", c(school = "character", student = "character"))
pen <- rd("penicillin", c(plate = "character", sample = "character"))
dye <- rd("dyestuff", c(Batch = "character"))
pastes <- rd("pastes", c(batch = "character", cask = "character", sample = "character"))

out <- list(generated_with = list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  lme4 = as.character(packageVersion("lme4")), lmerTest = as.character(packageVersion("lmerTest")),
  nlme = as.character(packageVersion("nlme"))))

# ---------------------------------------------------------------- 1. Orthodont gls
# The seeds' classic structures as nlme writes them; UN = corSymm + varIdent(~1 | age).
ofml <- distance ~ Sex * I(age - 11)
structures <- list(
  UN = list(cor = quote(corSymm(form = ~1 | Subject)), w = TRUE),
  CS = list(cor = quote(corCompSymm(form = ~1 | Subject)), w = FALSE),
  CSH = list(cor = quote(corCompSymm(form = ~1 | Subject)), w = TRUE),
  AR1 = list(cor = quote(corAR1(form = ~1 | Subject)), w = FALSE),
  ARH1 = list(cor = quote(corAR1(form = ~1 | Subject)), w = TRUE),
  TOEP = list(cor = quote(corARMA(p = 3, form = ~1 | Subject)), w = FALSE))
gls_fits <- function(method) {
  fits <- list(); rows <- list()
  for (k in names(structures)) {
    s <- structures[[k]]
    call <- if (s$w) {
      bquote(gls(.(ofml), orth, correlation = .(s$cor), weights = varIdent(form = ~1 | age),
                 method = .(method)))
    } else bquote(gls(.(ofml), orth, correlation = .(s$cor), method = .(method)))
    m <- eval(call)
    fits[[k]] <- m
    ll <- logLik(m)
    rows[[k]] <- list(id = k, r_call = paste(deparse(call, width.cutoff = 500L), collapse = ""),
                      loglik = c(ll), npar = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
                      nobs = nobs(m))
  }
  aic <- sapply(rows, `[[`, "aic"); bic <- sapply(rows, `[[`, "bic")
  w <- exp(-0.5 * (aic - min(aic)))
  list(fits = fits, out = list(
    method = method, models = unname(rows),
    ranking_aic = names(sort(aic)), ranking_bic = names(sort(bic)),
    ranking_call = "names(sort(sapply(fits, AIC))); names(sort(sapply(fits, BIC)))",
    akaike_weights = unname(w / sum(w)),
    akaike_weights_call = "w <- exp(-0.5 * (AIC - min(AIC))); w / sum(w) (models in the order above)"))
}
reml <- gls_fits("REML"); ml <- gls_fits("ML")
out$orthodont_gls <- list(reml = reml$out, ml = ml$out)

# nlme's anova(small, big) between nested structures (REML, same fixed effects).
pairs <- list(c("CS", "CSH"), c("CS", "TOEP"), c("AR1", "ARH1"), c("AR1", "TOEP"),
              c("CSH", "UN"), c("ARH1", "UN"), c("TOEP", "UN"), c("CS", "UN"))
out$orthodont_gls_lrt <- lapply(pairs, function(p) {
  a <- anova(reml$fits[[p[1]]], reml$fits[[p[2]]])
  list(small = p[1], big = p[2], method = "REML",
       r_call = sprintf("anova(gls_%s, gls_%s)", tolower(p[1]), tolower(p[2])),
       l_ratio = a$L.Ratio[2], df = a$df[2] - a$df[1], p_value = a$`p-value`[2])
})

# Random intercept beside residual structures (nlme's lme), for select_covariance with
# random effects.
lme_rows <- list()
lme_calls <- list(
  ID = quote(lme(distance ~ Sex * I(age - 11), orth, random = ~1 | Subject)),
  AR1 = quote(lme(distance ~ Sex * I(age - 11), orth, random = ~1 | Subject,
                  correlation = corAR1(form = ~1 | Subject))),
  ARH1 = quote(lme(distance ~ Sex * I(age - 11), orth, random = ~1 | Subject,
                   correlation = corAR1(form = ~1 | Subject), weights = varIdent(form = ~1 | age))))
for (k in names(lme_calls)) {
  m <- eval(lme_calls[[k]]); ll <- logLik(m)
  lme_rows[[k]] <- list(id = k, r_call = paste(deparse(lme_calls[[k]], width.cutoff = 500L), collapse = ""),
                        loglik = c(ll), npar = attr(ll, "df"), aic = AIC(m), bic = BIC(m))
}
out$orthodont_lme <- list(models = unname(lme_rows),
                          ranking_aic = names(sort(sapply(lme_rows, `[[`, "aic"))))

# ---------------------------------------------------------------- 2. lmerTest's ranova
ranova_case <- function(id, call, dataset) {
  m <- eval(call)
  r <- ranova(m)
  list(id = id, dataset = dataset, formula = deparse(formula(m), width.cutoff = 500L),
       reml = isREML(m), r_call = paste0("ranova(", deparse(call, width.cutoff = 500L), ")"),
       rows = rownames(r), npar = r$npar, loglik = r$logLik, aic = r$AIC, lrt = r$LRT,
       df = r$Df, p_value = r$`Pr(>Chisq)`)
}
out$ranova <- list(
  ranova_case("sleep_rs", quote(lmer(Reaction ~ Days + (Days | Subject), sleep)), "sleepstudy"),
  ranova_case("sleep_rs_ml", quote(lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)), "sleepstudy"),
  ranova_case("sleep_uncorr", quote(lmer(Reaction ~ Days + (Days || Subject), sleep)), "sleepstudy"),
  ranova_case("exam_rs", quote(lmer(normexam ~ standLRT + (1 + standLRT | school), exam)), "exam"),
  ranova_case("penicillin_crossed", quote(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen)), "penicillin"),
  ranova_case("dyestuff", quote(lmer(Yield ~ 1 + (1 | Batch), dye)), "dyestuff"),
  ranova_case("pastes_nested", quote(lmer(strength ~ 1 + (1 | batch/cask), pastes)), "pastes"))
# The mixture p-values of ranova's rows, by hand: 50:50 chi2(df - 1) : chi2(df) for one
# variance (df = 1, chi2(0) a point mass at 0) or one more correlated effect (df = 2).
mix <- function(lrt, df) 0.5 * pchisq(lrt, df, lower.tail = FALSE) +
  0.5 * (if (df == 1) 0 else pchisq(lrt, df - 1, lower.tail = FALSE))
for (i in seq_along(out$ranova)) {
  r <- out$ranova[[i]]
  out$ranova[[i]]$p_value_mixture <- c(NA, mapply(mix, r$lrt[-1], r$df[-1]))
  out$ranova[[i]]$mixture_call <- paste(
    "0.5 * pchisq(LRT, Df, lower = FALSE) + 0.5 * pchisq(LRT, Df - 1, lower = FALSE)",
    "(the second term 0 when Df = 1); NA for rows without a boundary mixture")
}
# logLik of the linear model (ranova's comparison when no random term is left).
out$ranova_lm_loglik <- list(
  r_call = "logLik(lm(Yield ~ 1, Dyestuff), REML = TRUE); logLik(lm(Yield ~ 1, Dyestuff))",
  reml = c(logLik(lm(Yield ~ 1, dye), REML = TRUE)), ml = c(logLik(lm(Yield ~ 1, dye))))

# ---------------------------------------------------------------- 3. anova(m0, m1) + mixture
anova_case <- function(id, m0call, m1call, dataset, kind, refit = TRUE) {
  m0 <- eval(m0call); m1 <- eval(m1call)
  a <- if (inherits(m0, "lm")) anova(m1, m0) else anova(m0, m1, refit = refit)
  lrt <- a$Chisq[2]; df <- a$Df[2]
  pm <- switch(kind,
    one_variance = 0.5 * pchisq(lrt, 1, lower = FALSE),
    slope = 0.5 * pchisq(lrt, 1, lower = FALSE) + 0.5 * pchisq(lrt, 2, lower = FALSE),
    interior = NA)
  mc <- switch(kind,
    one_variance = "0.5 * pchisq(Chisq, 1, lower = FALSE)",
    slope = "0.5 * pchisq(Chisq, 1, lower = FALSE) + 0.5 * pchisq(Chisq, 2, lower = FALSE)",
    interior = "none: the null value is interior")
  list(id = id, dataset = dataset, kind = kind, refit = refit,
       m0 = deparse(m0call, width.cutoff = 500L), m1 = deparse(m1call, width.cutoff = 500L),
       r_call = sprintf("anova(%s, %s%s)", if (inherits(m0, "lm")) "m1" else "m0",
                        if (inherits(m0, "lm")) "m0" else "m1", if (refit) "" else ", refit = FALSE"),
       npar = a$npar, loglik = a$logLik, aic = a$AIC, bic = a$BIC, chisq = lrt, df = df,
       p_value = a$`Pr(>Chisq)`[2], p_value_mixture = pm, mixture_call = mc)
}
out$anova <- list(
  anova_case("sleep_slope", quote(lmer(Reaction ~ Days + (1 | Subject), sleep)),
             quote(lmer(Reaction ~ Days + (Days | Subject), sleep)), "sleepstudy", "slope"),
  anova_case("sleep_slope_reml", quote(lmer(Reaction ~ Days + (1 | Subject), sleep)),
             quote(lmer(Reaction ~ Days + (Days | Subject), sleep)), "sleepstudy", "slope",
             refit = FALSE),
  anova_case("sleep_intercept_to_slope", quote(lmer(Reaction ~ Days + (0 + Days | Subject), sleep)),
             quote(lmer(Reaction ~ Days + (Days | Subject), sleep)), "sleepstudy", "slope"),
  anova_case("sleep_intercept_to_slope_reml", quote(lmer(Reaction ~ Days + (0 + Days | Subject), sleep)),
             quote(lmer(Reaction ~ Days + (Days | Subject), sleep)), "sleepstudy", "slope",
             refit = FALSE),
  anova_case("exam_slope", quote(lmer(normexam ~ standLRT + (1 | school), exam, REML = FALSE)),
             quote(lmer(normexam ~ standLRT + (1 + standLRT | school), exam, REML = FALSE)),
             "exam", "slope"),
  anova_case("sleep_uncorrelated_slope", quote(lmer(Reaction ~ Days + (1 | Subject), sleep)),
             quote(lmer(Reaction ~ Days + (Days || Subject), sleep)), "sleepstudy", "one_variance"),
  anova_case("penicillin_second_factor", quote(lmer(diameter ~ 1 + (1 | sample), pen)),
             quote(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen)), "penicillin", "one_variance"),
  anova_case("dyestuff_vs_lm", quote(lm(Yield ~ 1, dye)),
             quote(lmer(Yield ~ 1 + (1 | Batch), dye, REML = FALSE)), "dyestuff", "one_variance"),
  anova_case("sleep_correlation", quote(lmer(Reaction ~ Days + (Days || Subject), sleep)),
             quote(lmer(Reaction ~ Days + (Days | Subject), sleep)), "sleepstudy", "interior"))

# ---------------------------------------------------------------- 4. AIC(m1, m2, m3)
rs <- list(
  ri = quote(lmer(Reaction ~ Days + (1 | Subject), sleep)),
  slope = quote(lmer(Reaction ~ Days + (0 + Days | Subject), sleep)),
  both = quote(lmer(Reaction ~ Days + (Days | Subject), sleep)))
fits <- lapply(rs, eval)
aic <- sapply(fits, AIC); bic <- sapply(fits, BIC)
w <- exp(-0.5 * (aic - min(aic)))
out$sleep_random <- list(
  r_call = "AIC(ri, slope, both); BIC(ri, slope, both) with ri, slope, both the REML fits below",
  models = names(rs), calls = unname(sapply(rs, deparse, width.cutoff = 500L)),
  npar = unname(sapply(fits, function(m) attr(logLik(m), "df"))),
  loglik = unname(sapply(fits, function(m) c(logLik(m)))), aic = unname(aic), bic = unname(bic),
  ranking_aic = names(sort(aic)), akaike_weights = unname(w / sum(w)),
  akaike_weights_call = "w <- exp(-0.5 * (AIC - min(AIC))); w / sum(w)")

writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE, na = "null"),
           "tests/reference/selection.json")
