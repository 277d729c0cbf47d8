# Makes tests/reference/residual_patterns.json: R (nlme) reference values for residual
# correlation structures lmeformula is about to gain: corARMA(p, q) and the corSpatial
# family (corExp, corGaus, corLin, corRatio, corSpher, with and without nugget), in gls
# and lme fits, plus direct checks of the correlation functions on toy positions.
# Run from the repository root with `Rscript tests/reference/make_residual_patterns.R`
# (R 4.2.2, nlme 3.1.162, lme4 1.1.31, jsonlite). The tests never run R; they read the JSON.
#
# It also writes two datasets the cases need, the way the other files in lmeformula/data/
# are written (write.csv, row.names = FALSE, factors as character so they are quoted):
#   lmeformula/data/chickweight.csv  datasets::ChickWeight (weight, Time, Chick, Diet)
#   lmeformula/data/wheat2.csv       nlme::Wheat2 (Block, variety, yield, latitude, longitude)
# and then fits everything on the CSV files read back (as make_structures.R does), with
# factor levels sorted alphabetically (C locale), so R fits exactly the rows Python loads.
# The data frames are named as R's datasets (Ovary, BodyWeight, ...) so that each r_call is
# the literal call evaluated here.
#
# Each case: id, dataset, reference "nlme", r_call (the call of the kept fit), lmf_call,
# nobs, loglik, npar (logLik df), aic, bic, sigma, fixef, fixef_se, correlation =
# coef(corStruct, unconstrained = FALSE), correlation_unconstrained = coef(corStruct),
# correlation_matrix = corMatrix of the first subject in data order, marginal_cov (lme:
# getVarCov(type = "marginal") of that subject; gls: getVarCov of that subject), varcorr_nlme
# (lme), r_fit_seconds, warnings, converged, apvar_pd (nlme's approximate covariance of the
# variance parameters is positive definite), restarts, note.
#
# Optimum search: every model is fitted from nlme's default start, from the alternative
# optimiser (lmeControl / glsControl(opt = "optim")), and from a set of starting values of
# the correlation parameters (a grid of range x nugget for the spatial ones); the fit with
# the highest log-likelihood is then polished (restarted from its own estimates with a
# tighter tolerance) and the best of all is kept. Every attempt is listed in "restarts".
suppressMessages({library(nlme); library(lme4); library(jsonlite)})

data_dir <- file.path("lmeformula", "data")

# ---------------------------------------------------------------- datasets
wr <- function(df, name) {
  df <- as.data.frame(df)
  df <- data.frame(lapply(df, function(v) if (is.factor(v)) as.character(v) else as.vector(v)),
                   stringsAsFactors = FALSE, check.names = FALSE)
  write.csv(df, file.path(data_dir, paste0(name, ".csv")), row.names = FALSE)
}
wr(datasets::ChickWeight, "chickweight")
wr(nlme::Wheat2, "wheat2")

rd <- function(name, chr) {
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), colClasses = chr)
  for (v in names(chr)) d[[v]] <- factor(d[[v]], levels = sort(unique(d[[v]]), method = "radix"))
  d
}
Ovary <- rd("ovary", c(Mare = "character"))
Orthodont <- rd("orthodont", c(Subject = "character", Sex = "character"))
BodyWeight <- rd("bodyweight", c(Rat = "character", Diet = "character"))
ChickWeight <- rd("chickweight", c(Chick = "character", Diet = "character"))
Wheat2 <- rd("wheat2", c(Block = "character", variety = "character"))

# ---------------------------------------------------------------- fitting helpers
# Shortest decimal that reads back as the same double.
num <- function(x) paste(vapply(unname(x), function(v) {
  for (d in 15:17) { s <- sprintf(paste0("%.", d, "g"), v); if (as.numeric(s) == v) break }
  s }, ""), collapse = ", ")

# Evaluate a call given as a string; time it, collect warnings, catch errors.
fit_str <- function(call_str) {
  warns <- character(0)
  t0 <- proc.time()[["elapsed"]]
  m <- tryCatch(withCallingHandlers(eval(parse(text = call_str)[[1]], envir = globalenv()),
                  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
                error = function(e) structure(conditionMessage(e), class = "fit_error"))
  list(m = m, seconds = proc.time()[["elapsed"]] - t0, warnings = warns, r_call = call_str,
       ok = !inherits(m, "fit_error"))
}

cor_natural <- function(m) coef(m$modelStruct$corStruct, unconstrained = FALSE)
apvar_pd <- function(m) !is.character(m$apVar)

# A model spec: make(value, control) -> call string; value = NULL means nlme's default
# start, control = NULL nlme's default control.
run_model <- function(make, starts, is_lme) {
  tries <- list(list(label = "nlme default start", call = make(NULL, NULL)),
                list(label = if (is_lme) "lmeControl(opt = 'optim'), default start" else
                               "glsControl(opt = 'optim'), default start",
                     call = make(NULL, if (is_lme) "lmeControl(opt = 'optim')" else "glsControl(opt = 'optim')")))
  for (s in starts) tries[[length(tries) + 1]] <- list(label = paste0("start value = c(", num(s), ")"),
                                                       call = make(s, NULL))
  fits <- lapply(tries, function(t) c(fit_str(t$call), label = t$label))
  lls <- sapply(fits, function(f) if (f$ok) as.numeric(logLik(f$m)) else -Inf)
  best <- fits[[which.max(lls)]]
  # Polish: restart from the best estimates with a tighter tolerance.
  pol_ctrl <- if (is_lme) "lmeControl(rel.tol = 1e-13, msMaxIter = 500, msMaxEval = 2000, tolerance = 1e-10)" else
                          "glsControl(opt = 'optim', msTol = 1e-14, msMaxIter = 2000, tolerance = 1e-10)"
  pol <- c(fit_str(make(cor_natural(best$m), pol_ctrl)), label = "polish: restart from the best estimates, tight tolerance")
  fits[[length(fits) + 1]] <- pol
  lls <- c(lls, if (pol$ok) as.numeric(logLik(pol$m)) else -Inf)
  kept <- which.max(lls)
  restarts <- lapply(seq_along(fits), function(i) {
    f <- fits[[i]]
    r <- list(start = f$label, r_call = f$r_call, kept = i == kept)
    if (f$ok) {
      r$loglik <- as.numeric(logLik(f$m)); r$correlation <- as.list(cor_natural(f$m))
      r$sigma <- sigma(f$m); r$apvar_pd <- apvar_pd(f$m); r$n_warnings <- length(f$warnings)
    } else r$error <- as.character(f$m)
    r
  })
  ok_ll <- lls[is.finite(lls)]
  low <- which(is.finite(lls) & lls < max(ok_ll) - 1e-4)
  low <- low[order(-lls[low])]
  # A lower attempt counts as an imprecise stop at the kept optimum when its correlation
  # parameters are within 2% (relative; 0.01 absolute near 0) of the kept ones.
  kp <- cor_natural(fits[[kept]]$m)
  same <- vapply(low, function(i) { x <- cor_natural(fits[[i]]$m)
    all(abs(x - kp) <= pmax(0.02 * abs(kp), 0.01)) }, TRUE)
  for (i in seq_along(low)) restarts[[low[i]]]$same_optimum_imprecise_stop <- same[i]
  grp <- split(seq_along(low), factor(sprintf("%.4f", lls[low]), levels = unique(sprintf("%.4f", lls[low]))))
  low_txt <- vapply(names(grp), function(g) { ii <- low[grp[[g]]]; x <- cor_natural(fits[[ii[1]]]$m)
    sprintf("%s (%d attempt%s, e.g. %s: %s%s)", g, length(ii), if (length(ii) > 1) "s" else "", fits[[ii[1]]]$label,
            paste(names(x), signif(x, 5), sep = " = ", collapse = ", "),
            if (all(same[grp[[g]]])) "; same optimum, imprecise stop" else "") }, "")
  distinct <- unique(round(lls[low[!same]], 4))
  list(best = fits[[kept]], restarts = restarts, max_loglik = max(ok_ll), lower_txt = low_txt,
       loglik_spread = max(ok_ll) - min(ok_ll), lower_optima = distinct,
       imprecise = unique(round(lls[low[same]], 4)),
       n_failed = sum(!is.finite(lls)), n_tries = length(lls))
}

common <- function(f, id, dataset, lmf_call) {
  m <- f$m
  ll <- logLik(m)
  fe <- if (inherits(m, "lme")) fixef(m) else coef(m)
  list(id = id, dataset = dataset, reference = "nlme", r_call = f$r_call, lmf_call = lmf_call,
       nobs = nobs(m), loglik = as.numeric(ll), npar = attr(ll, "df"),
       aic = AIC(m), bic = BIC(m), sigma = sigma(m),
       fixef = as.list(fe), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       r_fit_seconds = f$seconds, warnings = as.list(f$warnings))
}

# g = name of the grouping column, or NULL for one group of all rows (then only the
# top-left `block` x `block` corner of the matrices is stored).
make_case <- function(id, dataset, lmf_call, make, starts, data, g, block = 8) {
  is_lme <- lmf_call$fn == "lmer"
  r <- run_model(make, starts, is_lme)
  f <- r$best; m <- f$m
  out <- common(f, id, dataset, lmf_call)
  cs <- m$modelStruct$corStruct
  out$correlation <- as.list(coef(cs, unconstrained = FALSE))
  out$correlation_unconstrained <- as.list(coef(cs))
  if (!is.null(g)) {
    subj <- as.character(data[[g]][1])
    cm <- corMatrix(cs)[[subj]]
    out$correlation_matrix <- list(subject = subj, matrix = unname(cm))
    if (is_lme) {
      V <- getVarCov(m, type = "marginal", individual = subj)[[1]]
      G <- getVarCov(m); G <- matrix(as.numeric(G), nrow(G))
      out$varcorr_nlme <- list(rows = rownames(VarCorr(m)), variance = c(diag(G), sigma(m)^2),
                               stddev = sqrt(c(diag(G), sigma(m)^2)), re_cov = unname(G))
    } else V <- getVarCov(m, individual = subj)
    out$marginal_cov <- list(subject = subj, matrix = matrix(as.numeric(V), nrow(V)))
  } else {
    cm <- corMatrix(cs)
    b <- seq_len(block)
    out$correlation_matrix <- list(subject = "(all rows: one group)", block = sprintf("rows/cols 1..%d (data order)", block),
                                   full_dim = dim(cm), matrix = unname(cm[b, b]))
    out$marginal_cov <- list(subject = "(all rows: one group)", block = sprintf("rows/cols 1..%d (data order)", block),
                             matrix = unname(sigma(m)^2 * cm[b, b]))
  }
  out$converged <- TRUE   # nlme stops with an error when it does not converge
  out$apvar_pd <- apvar_pd(m)
  out$restarts <- r$restarts
  out$restart_summary <- list(n_tries = r$n_tries, n_failed = r$n_failed, max_loglik = r$max_loglik,
                              loglik_spread = r$loglik_spread, lower_optima_loglik = as.list(r$lower_optima),
                              imprecise_stops_loglik = as.list(r$imprecise))
  # restarts_agree: no attempt found a different optimum (imprecise stops at the same
  # parameters, within 2%, do not count; failed attempts are listed in restarts).
  out$restarts_agree <- length(r$lower_optima) == 0
  if (length(r$lower_txt))
    out$note <- paste0("Attempts ending more than 1e-4 below the kept fit (logLik ", sprintf("%.6f", r$max_loglik),
                       "): ", paste(r$lower_txt, collapse = "; "), ".",
                       if (length(r$lower_optima)) " Those not marked 'imprecise stop' are different local optima (or stops on a flat ridge); all in restarts." else "")
  out
}

add_note <- function(case, txt) {
  case$note <- if (is.null(case$note)) txt else paste(txt, case$note)
  case
}

out <- list()
add <- function(case) {
  out[[case$id]] <<- case
  cat(sprintf("%-44s loglik %12.6f npar %2d  tries %2d failed %2d  lower optima: %s\n", case$id, case$loglik,
              as.integer(case$npar), case$restart_summary$n_tries, case$restart_summary$n_failed,
              paste(sprintf("%.4f", unlist(case$restart_summary$lower_optima_loglik)), collapse = " ")))
}
ctrl_arg <- function(control) if (is.null(control)) "" else paste0(", control = ", control)
meth_arg <- function(meth) if (meth == "REML") "" else ", method = 'ML'"
sfx <- function(meth) if (meth == "REML") "" else "_ml"

# ---------------------------------------------------------------- 1. Ovary lme ARMA(1, 1)
# In lme, corARMA() without a form takes the grouping of the random effects: ~ 1 | Mare
# (lags = row order within Mare; Ovary is sorted by Time within Mare).
for (meth in c("REML", "ML")) {
  make <- function(value, control) paste0(
    "lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), Ovary, random = ~ 1 | Mare, correlation = corARMA(",
    if (is.null(value)) "" else paste0("c(", num(value), "), "), "p = 1, q = 1)", meth_arg(meth), ctrl_arg(control), ")")
  add(make_case(paste0("ovary_lme_arma11", sfx(meth)), "ovary",
    list(fn = "lmer", formula = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)", reml = meth == "REML",
         residual = list(type = "ARMA", form = "1 | Mare", p = 1, q = 1)),
    make, list(c(0.5, 0.3), c(0.9, -0.5), c(-0.3, 0.5), c(0.3, -0.3)), Ovary, "Mare"))
}

# ---------------------------------------------------------------- 2. Ovary gls ARMA(2,0), (0,2), (2,1)
arma_starts <- list(
  "2_0" = list(c(0.5, 0.2), c(0.9, -0.4), c(-0.3, 0.3), c(0.2, 0.6)),
  "0_2" = list(c(0.5, 0.2), c(-0.4, 0.2), c(0.9, 0.5), c(0.2, -0.5)),
  "2_1" = list(c(0.5, 0.2, 0.2), c(0.9, -0.3, -0.7), c(0.3, 0.3, -0.3), c(-0.2, 0.1, 0.5), c(0.8, -0.1, 0.5)))
# (nlme's corARMA() refuses starting values with any |coefficient| >= 1, although the
# estimates may leave that box, e.g. Phi1 = 1.27 for ARMA(2, 1) below; then the polish
# restart from the estimates fails and is recorded as such.)
for (pq in list(c(2, 0), c(0, 2), c(2, 1))) for (meth in c("REML", "ML")) {
  p <- pq[1]; q <- pq[2]
  make <- function(value, control) paste0(
    "gls(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), Ovary, correlation = corARMA(",
    if (is.null(value)) "" else paste0("c(", num(value), "), "), "form = ~ 1 | Mare, p = ", p, ", q = ", q, ")",
    meth_arg(meth), ctrl_arg(control), ")")
  add(make_case(paste0("ovary_gls_arma", p, q, sfx(meth)), "ovary",
    list(fn = "gls", formula = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)", reml = meth == "REML",
         residual = list(type = "ARMA", form = "1 | Mare", p = p, q = q)),
    make, arma_starts[[paste0(p, "_", q)]], Ovary, "Mare"))
}

# ---------------------------------------------------------------- 3. Orthodont gls ARMA(1, 1)
for (meth in c("REML", "ML")) {
  make <- function(value, control) paste0(
    "gls(distance ~ Sex * I(age - 11), Orthodont, correlation = corARMA(",
    if (is.null(value)) "" else paste0("c(", num(value), "), "), "form = ~ 1 | Subject, p = 1, q = 1)",
    meth_arg(meth), ctrl_arg(control), ")")
  add(make_case(paste0("orthodont_gls_arma11", sfx(meth)), "orthodont",
    list(fn = "gls", formula = "distance ~ Sex * I(age - 11)", reml = meth == "REML",
         residual = list(type = "ARMA", form = "1 | Subject", p = 1, q = 1)),
    make, list(c(0.5, 0.3), c(0.9, -0.5), c(-0.3, 0.5), c(0.3, -0.3)), Orthodont, "Subject"))
}

# ---------------------------------------------------------------- spatial helpers
cor_type <- c(corExp = "EXP", corGaus = "GAU", corLin = "LIN", corRatio = "RATIO", corSpher = "SPH")
cor_short <- c(corExp = "exp", corGaus = "gaus", corLin = "lin", corRatio = "ratio", corSpher = "spher")
spatial_call <- function(cor, value, form, nugget) paste0(
  cor, "(", if (is.null(value)) "" else if (length(value) == 1) paste0(num(value), ", ") else paste0("c(", num(value), "), "),
  "form = ", form, if (nugget) ", nugget = TRUE" else "", ")")
grid_starts <- function(ranges, nuggets, nugget)
  if (nugget) unlist(lapply(ranges, function(r) lapply(nuggets, function(n) c(r, n))), recursive = FALSE) else as.list(ranges)

# ---------------------------------------------------------------- 4. ChickWeight, Gaussian with nugget
# The raw-weight model fits cleanly (interior optimum, same from every start), so weight
# is used as is (no log).
for (fn in c("lme", "gls")) for (meth in c("REML", "ML")) {
  make <- function(value, control) paste0(fn, "(weight ~ Time * Diet, ChickWeight, ",
    if (fn == "lme") "random = ~ 1 | Chick, " else "",
    "correlation = ", spatial_call("corGaus", value, "~ Time | Chick", TRUE), meth_arg(meth), ctrl_arg(control), ")")
  add(make_case(paste0("chickweight_", fn, "_gaus_nugget", sfx(meth)), "chickweight",
    list(fn = if (fn == "lme") "lmer" else "gls",
         formula = if (fn == "lme") "weight ~ Time * Diet + (1 | Chick)" else "weight ~ Time * Diet",
         reml = meth == "REML", residual = list(type = "GAU", form = "Time | Chick", nugget = TRUE)),
    make, grid_starts(c(1, 3, 6, 12, 25, 50), c(0.02, 0.1, 0.3, 0.6), TRUE), ChickWeight, "Chick"))
}

# ---------------------------------------------------------------- 5. BodyWeight, lme random Time | Rat
# Pinheiro & Bates 6.3.2 fit these with varPower() as well; here without (residual
# correlation only), as the lmf call has it.
for (cor in names(cor_type)) for (nugget in c(FALSE, TRUE)) for (meth in c("REML", "ML")) {
  make <- function(value, control) paste0("lme(weight ~ Time * Diet, BodyWeight, random = ~ Time | Rat, correlation = ",
    spatial_call(cor, value, "~ Time | Rat", nugget), meth_arg(meth), ctrl_arg(control), ")")
  res <- list(type = unname(cor_type[cor]), form = "Time | Rat", nugget = nugget)
  id <- paste0("bodyweight_lme_slope_", cor_short[cor], if (nugget) "_nugget" else "", sfx(meth))
  add(make_case(id, "bodyweight",
    list(fn = "lmer", formula = "weight ~ Time * Diet + (Time | Rat)", reml = meth == "REML", residual = res),
    make, grid_starts(c(1.5, 3, 6, 12, 25, 50, 100, 200), c(0.02, 0.1, 0.3, 0.6), nugget), BodyWeight, "Rat"))
}

# ---------------------------------------------------------------- 6. Wheat2 gls, 2-d spherical / ratio with nugget
book_start <- list(corSpher = c(28, 0.2), corRatio = c(12.5, 0.2))
for (cor in c("corSpher", "corRatio")) for (meth in c("REML", "ML")) {
  make <- function(value, control) paste0("gls(yield ~ variety - 1, Wheat2, correlation = ",
    spatial_call(cor, if (is.null(value)) book_start[[cor]] else value, "~ latitude + longitude", TRUE),
    meth_arg(meth), ctrl_arg(control), ")")
  # (nlme's own default start fails here, so "default start" above means the book's start.)
  id <- paste0("wheat2_gls_", cor_short[cor], "_nugget", sfx(meth))
  case <- make_case(id, "wheat2",
    list(fn = "gls", formula = "yield ~ 0 + variety", reml = meth == "REML",
         residual = list(type = unname(cor_type[cor]), form = "latitude + longitude", nugget = TRUE)),
    make, grid_starts(c(3, 8, 15, 28, 50, 100, 200, 1000), c(0.01, 0.05, 0.2, 0.5), TRUE), Wheat2, NULL)
  case$restarts[[1]]$start <- paste0("book start value = c(", num(book_start[[cor]]), ")")
  case$restarts[[2]]$start <- paste0(case$restarts[[2]]$start, " (from the book start)")
  # Check that corMatrix is in data order: recompute the stored block from the coordinates.
  b <- 1:8
  D <- as.matrix(dist(Wheat2[b, c("latitude", "longitude")]))
  r <- case$correlation$range; n <- case$correlation$nugget; x <- D / r
  rho <- if (cor == "corSpher") ifelse(x < 1, 1 - 1.5 * x + 0.5 * x^3, 0) else 1 / (1 + x^2)
  R <- (1 - n) * rho; diag(R) <- 1
  case$correlation_matrix$check_max_abs_diff_vs_formula <- max(abs(R - case$correlation_matrix$matrix))
  case <- add_note(case, paste("One group of all 224 rows (no grouping factor): correlation_matrix and marginal_cov store only",
    "the top-left 8 x 8 block (rows 1..8 of wheat2.csv in data order; marginal_cov = sigma^2 * corMatrix)."))
  add(case)
}
# The REML spherical likelihood has no finite maximiser: along range -> Inf with
# range * nugget ~ constant, the spherical model tends to a linear variogram plus nugget
# (the constant part of the covariance is absorbed by the variety means under REML) and
# logLik rises to a supremum of about -533.4185 (ranges 1e4..1e6, nugget ~1e-4, apVar
# often not PD). Those starts are in "restarts"; the kept case is the best *finite* optimum.
wsr <- out$wheat2_gls_spher_nugget
finite <- Filter(function(r) !is.null(r$loglik) && r$correlation$range < 1000, wsr$restarts)
degenerate <- Filter(function(r) !is.null(r$loglik) && r$correlation$range >= 1000, wsr$restarts)
if (length(degenerate)) {
  lls <- sapply(finite, `[[`, "loglik")
  bf <- finite[[which.max(lls)]]
  if (!isTRUE(bf$kept)) {
    f <- fit_str(bf$r_call)
    make <- function(value, control) paste0("gls(yield ~ variety - 1, Wheat2, correlation = ",
      spatial_call("corSpher", value, "~ latitude + longitude", TRUE), ctrl_arg(control), ")")
    pol <- fit_str(make(cor_natural(f$m), "glsControl(opt = 'optim', msTol = 1e-14, msMaxIter = 2000, tolerance = 1e-10)"))
    if (pol$ok && as.numeric(logLik(pol$m)) > as.numeric(logLik(f$m)) && cor_natural(pol$m)[["range"]] < 1000) f <- pol
    m <- f$m
    new <- common(f, wsr$id, "wheat2", wsr$lmf_call)
    cs <- m$modelStruct$corStruct; cm <- corMatrix(cs)
    new$correlation <- as.list(coef(cs, unconstrained = FALSE))
    new$correlation_unconstrained <- as.list(coef(cs))
    new$correlation_matrix <- wsr$correlation_matrix; new$correlation_matrix$matrix <- unname(cm[1:8, 1:8])
    D <- as.matrix(dist(Wheat2[1:8, c("latitude", "longitude")])); x <- D / new$correlation$range
    R <- (1 - new$correlation$nugget) * ifelse(x < 1, 1 - 1.5 * x + 0.5 * x^3, 0); diag(R) <- 1
    new$correlation_matrix$check_max_abs_diff_vs_formula <- max(abs(R - cm[1:8, 1:8]))
    new$marginal_cov <- wsr$marginal_cov; new$marginal_cov$matrix <- unname(sigma(m)^2 * cm[1:8, 1:8])
    new$converged <- TRUE; new$apvar_pd <- apvar_pd(m)
    new$restarts <- c(lapply(wsr$restarts, function(r) { r$kept <- FALSE; r$same_optimum_imprecise_stop <- NULL; r }),
                      list(list(start = "kept: best finite-range optimum, refitted (polished if that helped)", r_call = f$r_call,
                                kept = TRUE, loglik = as.numeric(logLik(m)), correlation = as.list(cor_natural(m)),
                                sigma = sigma(m), apvar_pd = apvar_pd(m), n_warnings = length(f$warnings))))
    dl <- sapply(degenerate, `[[`, "loglik")
    fl <- sapply(finite, `[[`, "loglik")
    new$restart_summary <- wsr$restart_summary
    new$restart_summary$degenerate_supremum_loglik <- max(dl)
    new$restart_summary$lower_optima_loglik <- as.list(sort(unique(round(fl[fl < as.numeric(logLik(m)) - 1e-4], 4)), decreasing = TRUE))
    new$restart_summary$imprecise_stops_loglik <- NULL
    new$restarts_agree <- FALSE
    new$note <- paste0("One group of all 224 rows (no grouping factor): correlation_matrix and marginal_cov store only the ",
      "top-left 8 x 8 block (rows 1..8 of wheat2.csv in data order; marginal_cov = sigma^2 * corMatrix). ",
      "NO FINITE BEST OPTIMUM under REML: from ", length(degenerate), " starts nlme drifts to range -> Inf, nugget -> 0 ",
      "(range * nugget ~ constant; the spherical model tends to a linear variogram whose constant part the variety means ",
      "absorb under REML), logLik rising to about ", sprintf("%.4f", max(dl)), " with the parameters undetermined. ",
      "Kept: the best finite-range optimum found, logLik ", sprintf("%.6f", new$loglik), " (range ",
      sprintf("%.4f", new$correlation$range), ", nugget ", sprintf("%.4f", new$correlation$nugget), "). ",
      "The book's start c(28, 0.2) stops at the lower local optimum logLik ", sprintf("%.6f", wsr$restarts[[1]]$loglik),
      " (range ", sprintf("%.4f", wsr$restarts[[1]]$correlation$range), ", nugget ",
      sprintf("%.4f", wsr$restarts[[1]]$correlation$nugget), "), which is P&B's fm2Wheat2. Other finite local optima: ",
      paste(sprintf("%.4f", unlist(new$restart_summary$lower_optima_loglik)), collapse = ", "),
      ". The spherical correlation is only C1 in the range, so the surface has many small local optima.")
    out$wheat2_gls_spher_nugget <- new
    cat(sprintf("%-44s loglik %12.6f  (replaced: best finite optimum; degenerate supremum %.4f)\n", new$id, new$loglik, max(dl)))
  }
}

# ---------------------------------------------------------------- notes for ill-identified cases
for (id in names(out)) {
  cc <- out[[id]]
  if (!cc$apvar_pd)
    out[[id]] <- add_note(cc, paste("nlme's approximate covariance of the variance parameters is not positive definite",
      "(apVar): the correlation parameters are weakly identified here; compare loglik, fixef, sigma, marginal_cov first."))
}
for (id in grep("^bodyweight_lme_slope_(gaus|lin|spher)(_ml)?$", names(out), value = TRUE)) {
  cc <- out[[id]]
  if (cc$correlation$range < 6)
    out[[id]] <- add_note(cc, paste0("The optimum has range ", sprintf("%.4f", cc$correlation$range),
      " < 6: of the BodyWeight time gaps (7, 1 between days 43 and 44, 6, 7, ...) only the gap of 1 gets a non-negligible ",
      "correlation, so the fit is determined by that one lag (the same logLik for corGaus, corLin, corSpher)."))
}

# ---------------------------------------------------------------- pattern checks
pattern_checks <- list()
padd <- function(x) pattern_checks[[length(pattern_checks) + 1]] <<- x
toeplitz_acf <- function(phi, theta, n) toeplitz(as.numeric(ARMAacf(ar = phi, ma = theta, lag.max = n - 1)))
# nlme's ARMA_corr (corStruct.c), emulated: psi weights; autocovariances 0..p exact; lags
# p+1..q from gamma_k = sum_j Phi_j gamma_{k-j} + sum_{j=k}^{q} pars[j] psi_{j-k} with
# pars = c(Phi, Theta) (the correct term is Theta[j]: the two agree when p = 0); lags > max(p, q)
# by the AR recursion; divided by gamma_0.
nlme_arma_acf <- function(phi, theta, maxlag) {
  p <- length(phi); q <- length(theta); pars <- c(phi, theta)
  K <- 4000; psi <- numeric(K); psi[1] <- 1                       # psi[k + 1] = psi_k
  for (k in 1:(K - 1)) psi[k + 1] <- (if (k <= q) theta[k] else 0) + sum(phi[seq_len(min(p, k))] * psi[k + 1 - seq_len(min(p, k))])
  g <- numeric(max(maxlag, p, q) + 1)                              # g[k + 1] = gamma_k
  for (k in 0:p) g[k + 1] <- sum(psi[1:(K - k)] * psi[(1 + k):K])  # exact (K terms)
  if (q > p) for (k in (p + 1):q) {
    g[k + 1] <- sum(phi * g[k + 1 - seq_len(p)]) + sum(pars[k:q] * psi[(k:q) - k + 1])
  }
  if (length(g) > max(p, q) + 1) for (k in (max(p, q) + 1):(length(g) - 1)) g[k + 1] <- sum(phi * g[k + 1 - seq_len(p)])
  (g / g[1])[1:(maxlag + 1)]
}

arma_vals <- list(list(p = 1, q = 0, v = 0.6), list(p = 0, q = 1, v = 0.4), list(p = 0, q = 1, v = -0.4),
                  list(p = 1, q = 1, v = c(0.7, -0.3)), list(p = 2, q = 1, v = c(0.5, 0.2, 0.4)),
                  list(p = 1, q = 2, v = c(0.6, 0.3, -0.2)))
toy_rank <- data.frame(t = 1:6)
for (a in arma_vals) {
  cs <- Initialize(corARMA(a$v, form = ~ 1, p = a$p, q = a$q), data = toy_rank)
  cm <- corMatrix(cs)
  phi <- if (a$p) a$v[seq_len(a$p)] else numeric(0); theta <- if (a$q) a$v[a$p + seq_len(a$q)] else numeric(0)
  th <- toeplitz_acf(phi, theta, 6)
  pc <- list(structure = "corARMA", p = a$p, q = a$q, nlme_class = class(cs)[1],
    r_call = sprintf("corMatrix(Initialize(corARMA(c(%s), form = ~ 1, p = %d, q = %d), data = data.frame(t = 1:6)))", num(a$v), a$p, a$q),
    value = as.list(coef(cs, unconstrained = FALSE)), unconstrained = as.list(coef(cs)),
    form = "~ 1", positions = list(t = toy_rank$t), matrix = unname(cm),
    max_abs_diff_vs_ARMAacf = max(abs(cm - th)),
    max_abs_diff_vs_nlme_recursion_emulated = max(abs(cm - toeplitz(nlme_arma_acf(phi, theta, 5)))))
  if (pc$max_abs_diff_vs_ARMAacf > 1e-10) {
    pc$matrix_arma_theory <- unname(th)
    pc$note <- paste("nlme's corARMA is NOT the ARMA(p, q) autocorrelation when 0 < p < q (nlme 3.1.162 C code ARMA_corr):",
      "lags p+1..q use c(Phi, Theta)[j] where Theta[j] belongs, and later lags follow from those by the AR recursion.",
      "'matrix' is nlme's, 'matrix_arma_theory' = toeplitz(stats::ARMAacf(ar = Phi, ma = Theta)).")
  }
  padd(pc)
}
# More 0 < p < q orders, checking the description of nlme's recursion (and p >= q or p = 0 being exact).
arma_qgtp <- lapply(list(c(1, 2), c(1, 3), c(2, 3), c(2, 2), c(0, 3), c(3, 1)), function(pq) {
  p <- pq[1]; q <- pq[2]; v <- c(c(0.5, 0.2, -0.1)[seq_len(p)], c(0.3, -0.2, 0.1)[seq_len(q)])
  cs <- Initialize(corARMA(v, form = ~ 1, p = p, q = q), data = data.frame(t = 1:8))
  cm <- corMatrix(cs); phi <- v[seq_len(p)]; theta <- v[p + seq_len(q)]
  list(p = p, q = q, value = as.list(coef(cs, unconstrained = FALSE)), nlme_lag_corr = unname(cm[1, ]),
       arma_theory_lag_corr = as.numeric(ARMAacf(ar = phi, ma = theta, lag.max = 7)),
       max_abs_diff_vs_ARMAacf = max(abs(cm - toeplitz_acf(phi, theta, 8))),
       max_abs_diff_vs_nlme_recursion_emulated = max(abs(cm - toeplitz(nlme_arma_acf(phi, theta, 7)))))
})
# corARMA with an integer covariate that has gaps: nlme uses the covariate differences as lags.
toy_gap <- data.frame(t = c(1, 2, 4, 7, 8, 10))
for (a in list(list(p = 1, q = 0, v = 0.6), list(p = 1, q = 1, v = c(0.7, -0.3)))) {
  cs <- Initialize(corARMA(a$v, form = ~ t, p = a$p, q = a$q), data = toy_gap)
  cm <- corMatrix(cs)
  phi <- a$v[1]; theta <- if (a$q) a$v[2] else numeric(0)
  acf <- as.numeric(ARMAacf(ar = phi, ma = theta, lag.max = 9))
  padd(list(structure = "corARMA", p = a$p, q = a$q,
    r_call = sprintf("corMatrix(Initialize(corARMA(c(%s), form = ~ t, p = %d, q = %d), data = data.frame(t = c(1, 2, 4, 7, 8, 10))))", num(a$v), a$p, a$q),
    value = as.list(coef(cs, unconstrained = FALSE)), unconstrained = as.list(coef(cs)),
    form = "~ t", positions = list(t = toy_gap$t), matrix = unname(cm),
    max_abs_diff_vs_ARMAacf_at_covariate_lags = max(abs(cm - matrix(acf[abs(outer(toy_gap$t, toy_gap$t, "-")) + 1], 6))),
    note = "Integer covariate with gaps: the lag is the difference of the covariate values, not of the ranks."))
}

rho_fun <- list(corExp = function(x) exp(-x), corGaus = function(x) exp(-x^2),
                corLin = function(x) ifelse(x < 1, 1 - x, 0), corRatio = function(x) 1 / (1 + x^2),
                corSpher = function(x) ifelse(x < 1, 1 - 1.5 * x + 0.5 * x^3, 0))
toy1 <- data.frame(t = c(0, 1, 2.5, 4, 7))
toy2 <- data.frame(x = c(0, 1, 0, 2, 3.5), y = c(0, 0, 1.5, 2, 1))
for (cor in names(rho_fun)) for (nugget in c(FALSE, TRUE)) for (dim2 in c(FALSE, TRUE)) {
  toy <- if (dim2) toy2 else toy1
  form <- if (dim2) "~ x + y" else "~ t"
  v <- if (dim2) c(2.5, 0.25) else c(3, 0.2)
  if (!nugget) v <- v[1]
  cs <- Initialize(do.call(cor, list(value = v, form = as.formula(form), nugget = nugget)), data = toy)
  cm <- corMatrix(cs)
  D <- as.matrix(dist(toy)); R <- (if (nugget) 1 - v[2] else 1) * rho_fun[[cor]](D / v[1]); diag(R) <- 1
  padd(list(structure = cor, nugget = nugget,
    r_call = sprintf("corMatrix(Initialize(%s(%s, form = %s%s), data = %s))", cor,
                     if (nugget) paste0("c(", num(v), ")") else num(v), form, if (nugget) ", nugget = TRUE" else "",
                     if (dim2) "data.frame(x = c(0, 1, 0, 2, 3.5), y = c(0, 0, 1.5, 2, 1))" else "data.frame(t = c(0, 1, 2.5, 4, 7))"),
    value = as.list(coef(cs, unconstrained = FALSE)), unconstrained = as.list(coef(cs)),
    form = form, positions = as.list(toy), distances = unname(D), matrix = unname(cm),
    max_abs_diff_vs_formula = max(abs(cm - R))))
}
# Defaults and errors.
dflt <- Initialize(corExp(form = ~ t, nugget = TRUE), data = toy1)
low_warn <- NA_character_
dflt_sph <- Initialize(corSpher(form = ~ t, nugget = TRUE), data = toy1)
low_sph <- withCallingHandlers(Initialize(corSpher(0.5, form = ~ t), data = toy1),
                               warning = function(w) { low_warn <<- conditionMessage(w); invokeRestart("muffleWarning") })
zero_d <- tryCatch({Initialize(corExp(c(3, 0.2), form = ~ t, nugget = TRUE), data = data.frame(t = c(0, 1, 1, 2.5))); "no error"},
                   error = function(e) conditionMessage(e))
defaults_check <- list(
  positions = toy1$t, min_distance = 1,
  default_start_corExp_nugget = as.list(coef(dflt, unconstrained = FALSE)),
  default_start_corSpher_nugget = as.list(coef(dflt_sph, unconstrained = FALSE)),
  corSpher_unconstrained_is_log_range_minus_minD = list(range = 3, min_distance = 1,
    unconstrained = unname(coef(Initialize(corSpher(3, form = ~ t), data = toy1))), log_2 = log(2)),
  corSpher_start_below_min_distance = list(value = 0.5, warning = low_warn, range_used = unname(coef(low_sph, unconstrained = FALSE))),
  corARMA_p1_q0_class = list(consecutive_ranks = class(Initialize(corARMA(0.6, form = ~ 1, p = 1), data = toy_rank))[1],
                             integer_covariate_with_gaps = class(Initialize(corARMA(0.6, form = ~ t, p = 1), data = toy_gap))[1]),
  corARMA_value_1_or_more_error = tryCatch({corARMA(c(1.2, -0.3), p = 2); "no error"}, error = function(e) conditionMessage(e)),
  zero_distance_error = zero_d)

notes <- c(
  "Factors re-levelled alphabetically (C-locale sort) before fitting; data read from lmeformula/data/*.csv.",
  "marginal_cov and correlation_matrix: the first subject in data order (lme: getVarCov(type = 'marginal'); gls: getVarCov); Wheat2 (one group of 224 rows): the top-left 8 x 8 block only.",
  "Parameter names and scales: corARMA coefficients are named Phi1..Phip (AR) then Theta1..Thetaq (MA); corSpatial ones range, then nugget when nugget = TRUE. 'correlation' holds them on the natural scale (coef(., unconstrained = FALSE)), 'correlation_unconstrained' on nlme's optimisation scale.",
  "nlme's `value` argument order: corARMA(value = c(Phi1, ..., Phip, Theta1, ..., Thetaq)); corExp/corGaus/corLin/corRatio/corSpher(value = c(range, nugget)) with nugget = TRUE, value = range without. Default ARMA start: all 0.",
  "corARMA sign convention: e_t = Phi1 e_{t-1} + ... + Phip e_{t-p} + a_t + Theta1 a_{t-1} + ... + Thetaq a_{t-q} (plus signs on the MA terms), the same as stats::ARMAacf(ar = Phi, ma = Theta): for p = 0, for p >= q (and so for every fitted case here: (1,1), (2,0), (0,2), (2,1)) corMatrix equals the Toeplitz matrix of ARMAacf to ~1e-16 (pattern_checks). E.g. MA(1): corr at lag 1 = Theta / (1 + Theta^2), lag >= 2: 0.",
  "nlme BUG for 0 < p < q (e.g. ARMA(1, 2), (1, 3), (2, 3)): nlme's correlations are not the ARMA ones. In corStruct.c ARMA_corr, the autocovariances at lags p+1..q use pars[j] (pars = c(Phi, Theta), 1-based, j = k..q) where Theta[j] belongs: gamma_k = sum_i Phi_i gamma_{k-i} + sum_{j=k}^{q} pars[j] psi_{j-k}; lags 0..p are right, lags > q follow from the wrong ones by the AR recursion. The emulation nlme_arma_acf() in this script reproduces corMatrix to ~1e-16 (pattern_checks_arma_q_gt_p). No fitted case here has 0 < p < q; to match nlme there, lmeformula would have to copy the bug.",
  "corARMA with p = 1, q = 0 on consecutive times (form ~ 1 | g) is turned into corAR1 by Initialize (coefficient named 'Phi', not 'Phi1'); with an integer covariate that has gaps it stays corARMA ('Phi1'). The values are the same (Phi^lag). corARMA() refuses initial values with any |coefficient| >= 1, but estimates may exceed 1 (Ovary ARMA(2, 1): Phi1 = 1.27), since the constraint nlme optimises under is stationarity / invertibility, not |coef| < 1.",
  "corARMA lags: form ~ 1 | g uses the row order within g (ranks); form ~ t | g with an integer covariate uses the covariate differences |t_i - t_j| as lags (gaps give higher lags; see the form '~ t' pattern checks).",
  "corARMA unconstrained scale: 2 atanh(partial autocorrelation) of the AR polynomial and, separately, of the MA polynomial (Durbin-Levinson with the sign flipped for the MA part): e.g. AR(2) c(0.5, 0.2) -> 2 atanh(c(0.5 / (1 - 0.2), 0.2)); MA(2) c(0.3, -0.2) -> 2 atanh(c(0.3 / (1 + (-0.2)), -0.2)); for p = 1 / q = 1 just 2 atanh(x). So nlme's parameter space is the stationary AR and invertible MA region.",
  "corSpatial definitions (x = d / range, d Euclidean distance; all-rows-one-group when the form has no '|'): corExp exp(-x); corGaus exp(-x^2); corLin 1 - x for x < 1, else 0; corRatio 1 / (1 + x^2); corSpher 1 - 1.5 x + 0.5 x^3 for x < 1, else 0. With nugget: correlation = (1 - nugget) * rho(d) for i != j (d > 0), 1 on the diagonal. Verified against corMatrix to ~1e-16 (pattern_checks, max_abs_diff_vs_formula).",
  "corSpatial unconstrained scale: log(range) for corExp, corGaus, corRatio but log(range - minD) for corSpher and corLin, where minD is the smallest distance between two rows of a group over the whole data (so nlme keeps range > minD for those two); nugget: log(nugget / (1 - nugget)). nlme needs 0 < nugget < 1 and refuses zero distances between two rows of a group (error 'cannot have zero distances in \"corSpatial\"').",
  "corSpatial starting values when value is not given: range = 0.9 * minD (corExp, corGaus, corRatio) or 1.1 * minD (corSpher, corLin; a given range <= minD is replaced by 1.1 * minD with a warning); nugget = 0.1 (pattern_checks_defaults).",
  "In lme, corARMA() / corSpatial without a '| g' part in the form take the grouping of the random effects (Ovary lme: ~ 1 | Mare).",
  "Optimum search: each model from nlme's default start (for Wheat2 the book's start, nlme's own default fails), the 'optim' optimiser, a set of starting values, and a polish from the best estimates with tight tolerances; the best logLik is kept, every attempt is in the case's 'restarts'. nlme's estimates of range/nugget from different starts that reach the same optimum agree to about 1e-5 relative; logLik to 1e-8.",
  "Wheat2 corSpher REML: no finite maximiser (see the case's note); the kept case is the best finite-range optimum, not the book's fit (which is a lower local optimum).",
  "BodyWeight: Pinheiro & Bates 6.3.2 add varPower() to these models; here there is no variance function. With random = ~ Time | Rat, nlme's default start for corGaus / corLin / corSpher (with or without nugget) often stops at a fit where only the lag of 1 day (days 43-44) is correlated; other starts find higher optima for the nugget versions (see restarts).")

res <- list(
  generated_with = list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                        lme4 = as.character(packageVersion("lme4")), jsonlite = as.character(packageVersion("jsonlite")),
                        script = "tests/reference/make_residual_patterns.R"),
  notes = notes, cases = unname(out), pattern_checks = pattern_checks, pattern_checks_arma_q_gt_p = arma_qgtp,
  pattern_checks_defaults = defaults_check)
write_json(res, "tests/reference/residual_patterns.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)

cat("\npattern checks: max abs diff vs formula / ARMAacf\n")
for (pc in pattern_checks) cat(sprintf("  %-9s %-28s %s\n", pc[["structure"]],
  if (!is.null(pc[["p"]])) sprintf("p=%d q=%d form %s", pc[["p"]], pc[["q"]], pc[["form"]]) else
    sprintf("nugget=%s form %s", pc[["nugget"]], pc[["form"]]),
  paste(format(c(pc[["max_abs_diff_vs_ARMAacf"]], pc[["max_abs_diff_vs_nlme_recursion_emulated"]],
                 pc[["max_abs_diff_vs_ARMAacf_at_covariate_lags"]], pc[["max_abs_diff_vs_formula"]]), digits = 3), collapse = " ")))
for (a in arma_qgtp) cat(sprintf("  ARMA(%d,%d): vs ARMAacf %.3g, vs emulated nlme recursion %.3g\n", a$p, a$q,
                                 a$max_abs_diff_vs_ARMAacf, a$max_abs_diff_vs_nlme_recursion_emulated))
