# Run from the repository root: Rscript tests/reference/make_glmer_extras.R
# lme4 1.1.31, emmeans 1.8.4-1 (R 4.2.2), for tests/test_glmer_extras.py:
# - emmeans of models with an offset: emmeans puts the mean of the fit's offset vector in
#   the grid (ref_grid(m)@grid$.offset.), for an offset() term and for offset= alike, and
#   its offset= argument replaces it;
# - profile intervals of a Gamma glmer. lme4's profile() refuses families with a scale
#   ("can't (yet) profile GLMMs with non-fixed scale parameters"), so they are computed
#   here from lme4's own deviance function (devFunOnly = TRUE: the Laplace deviance of
#   (θ, β), the dispersion profiled out as lme4's logLik does): for each parameter, the
#   roots of min over the others of d - d̂ = qchisq(0.95, 1); .sig01 is θ's limits times
#   sigma(m), the scale VarCorr reports.
suppressMessages({library(lme4); library(emmeans); library(jsonlite)})
rd <- function(f) read.csv(file.path("data", f), stringsAsFactors = TRUE)
out <- list()
em <- function(e, scale) {
  s <- as.data.frame(summary(e))
  list(estimate = s[[scale]], se = s$SE, lower = s[[grep("LCL|lower", names(s))]],
       upper = s[[grep("UCL|upper", names(s))]])
}
owls <- rd("owls.csv")
m <- glmer(SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest),
           owls, poisson)
m_arg <- glmer(SiblingNegotiation ~ FoodTreatment * SexParent + (1 | Nest), owls, poisson,
               offset = log(BroodSize))
out$owls <- list(
  grid_offset = ref_grid(m)@grid$.offset.[1],
  # emmeans(m, ~ FoodTreatment, type = "response")
  food_response = em(emmeans(m, ~ FoodTreatment, type = "response"), "rate"),
  # emmeans(m, ~ FoodTreatment | SexParent)
  food_by_sex_link = em(emmeans(m, ~ FoodTreatment | SexParent), "emmean"),
  # emmeans(m, ~ FoodTreatment, offset = 0, type = "response")
  food_offset0 = em(emmeans(m, ~ FoodTreatment, offset = 0, type = "response"), "rate"),
  # emmeans(m_arg, ~ FoodTreatment, type = "response"), offset = log(BroodSize) in glmer()
  food_offset_arg = em(emmeans(m_arg, ~ FoodTreatment, type = "response"), "rate"),
  # pairs(emmeans(m, ~ FoodTreatment, type = "response")): the offset cancels
  pairs_ratio = summary(pairs(emmeans(m, ~ FoodTreatment, type = "response")))$ratio
)
orth <- rd("orthodont.csv")
ml <- lmer(distance ~ Sex + offset(age / 2) + (1 | Subject), orth)
out$orthodont <- list(
  grid_offset = ref_grid(ml)@grid$.offset.[1],
  # emmeans(ml, ~ Sex, lmer.df = "satterthwaite")
  sex = c(em(emmeans(ml, ~ Sex, lmer.df = "satterthwaite"), "emmean"),
          list(df = as.data.frame(emmeans(ml, ~ Sex, lmer.df = "satterthwaite"))$df))
)
gam <- rd("gammasim.csv")
mg <- glmer(y ~ x + (1 | g), gam, Gamma(link = "log"))
dev <- update(mg, devFunOnly = TRUE)
start <- c(getME(mg, "theta"), fixef(mg))
o <- optim(start, dev, method = "Nelder-Mead", control = list(reltol = 1e-14, maxit = 1e5))
o <- optim(o$par, dev, method = "BFGS", control = list(reltol = 1e-15, maxit = 1e4))
prof <- function(j, x) {
  f <- function(p) { q <- numeric(length(start)); q[j] <- x; q[-j] <- p; dev(q) }
  low <- c(0, rep(-Inf, length(start) - 1))[-j]
  optim(o$par[-j], f, method = "L-BFGS-B", lower = low,
        control = list(factr = 1e2, pgtol = 0, maxit = 1e4))$value - o$value
}
crit <- qchisq(0.95, 1)
se <- c(NA, sqrt(diag(as.matrix(vcov(mg)))))
lim <- t(sapply(seq_along(start), function(j) {
  est <- o$par[j]
  h <- if (j == 1) 0.5 * est else 10 * se[j]
  c(uniroot(function(x) prof(j, x) - crit, c(if (j == 1) 1e-6 else est - h, est), tol = 1e-10)$root,
    uniroot(function(x) prof(j, x) - crit, c(est, est + h), tol = 1e-10)$root)
}))
lim[1, ] <- lim[1, ] * sigma(mg)
out$gamma_profile <- list(names = c(".sig01", names(fixef(mg))), lower = lim[, 1],
                          upper = lim[, 2], sigma = sigma(mg), deviance_min = o$value)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/reference/glmer_extras.json")
