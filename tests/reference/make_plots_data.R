# Makes tests/reference/plots_data.json: nlme's normalized residuals, ACF and Variogram,
# the numbers behind lmeformula.plots' ACF and variogram panels. Run from the repository
# root with `Rscript tests/reference/make_plots_data.R` (R 4.2.2, nlme 3.1.162). The tests
# never run R; they read the JSON this writes.
#
# Each case: id, dataset, r_call (the nlme fit), lmf_call (the lmeformula call, as in
# structures.json), sort_by (rows sorted by this column, see below), loglik, and
#   resid_normalized = residuals(m, type = "normalized")   (every row, data order)
#   resid_pearson    = residuals(m, type = "pearson")
#   acf_*            = ACF(m, resType = ...): lag, ACF, attr(, "n.used")
#   variogram_*      = Variogram(m, form = ..., resType = ..., ...): variog, dist, n.pairs
#
# Ovary is sorted by Mare before fitting. nlme 3.1.162's residuals.lme applies the inverse
# Cholesky factors of the correlation matrices, which it keeps in the order of the sorted
# groups, to residuals kept in data order; with Ovary in data order (Mare 1, 2, ..., 11,
# of 25 to 31 rows, against the sorted levels "1", "10", "11", "2", ...) the blocks do not
# line up and 8 of 11 mares get other mares' factors (checked below: `misaligned`). On data
# sorted by the grouping factor the two orders agree and nlme's numbers are the definition.
# BodyWeight (16 rats with the same 11 times) and sleepstudy are the same either way.
suppressMessages({library(nlme); library(jsonlite)})

rd <- function(name, chr) {
  d <- read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
  for (v in names(chr)) d[[v]] <- factor(d[[v]], levels = sort(unique(d[[v]]), method = "radix"))
  d
}
ovary_data_order <- rd("ovary", c(Mare = "character"))
ovary <- ovary_data_order[order(ovary_data_order$Mare), ]
bw <- rd("bodyweight", c(Rat = "character", Diet = "character"))
sleep <- rd("sleepstudy", c(Subject = "character"))

acf_list <- function(a) list(lag = a$lag, acf = a$ACF, n_used = as.numeric(attr(a, "n.used")))
vario_list <- function(v, r_call) list(r_call = r_call, variog = v$variog, dist = v$dist,
                                       n_pairs = v$n.pairs)
base_case <- function(m, id, dataset, r_call, lmf_call, sort_by = NULL) {
  list(id = id, dataset = dataset, r_call = r_call, lmf_call = lmf_call, sort_by = sort_by,
       loglik = as.numeric(logLik(m)),
       resid_normalized = unname(as.numeric(residuals(m, type = "normalized"))),
       resid_pearson = unname(as.numeric(residuals(m, type = "pearson"))),
       acf_normalized = c(list(r_call = "ACF(m, resType = \"normalized\")"),
                          acf_list(ACF(m, resType = "normalized"))),
       acf_pearson = c(list(r_call = "ACF(m, resType = \"pearson\")"),
                       acf_list(ACF(m, resType = "pearson"))))
}
out <- list()

# ------------------------------------------------------------------ Ovary, lme + corAR1
m <- lme(follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time), ovary, random = ~1 | Mare,
         correlation = corAR1(form = ~1 | Mare))
case <- base_case(m, "ovary_lme_ar1", "ovary",
  "lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), Ovary[order(Ovary$Mare), ], random = ~1|Mare, correlation = corAR1(form = ~1|Mare))",
  list(fn = "lmer", formula = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)",
       reml = TRUE, residual = list(type = "AR1", form = "1 | Mare")), sort_by = "Mare")
case$variogram_normalized <- vario_list(Variogram(m, form = ~Time | Mare, resType = "normalized"),
  "Variogram(m, form = ~Time | Mare, resType = \"normalized\")")
case$variogram_normalized_index <- vario_list(Variogram(m, resType = "normalized"),
  "Variogram(m, resType = \"normalized\")")
# The check behind the note above: nlme's normalized residuals on Ovary in data order
# against the definition (inverse lower Cholesky factor of each mare's AR(1) matrix).
m0 <- update(m, data = ovary_data_order)
p0 <- residuals(m0, type = "pearson")
phi <- coef(m0$modelStruct$corStruct, unconstrained = FALSE)
def <- numeric(length(p0))
for (g in levels(ovary_data_order$Mare)) {
  i <- which(ovary_data_order$Mare == g); n <- length(i)
  def[i] <- solve(t(chol(phi^abs(outer(1:n, 1:n, "-")))), p0[i])
}
d <- tapply(abs(def - residuals(m0, type = "normalized")), ovary_data_order$Mare, max)
case$misaligned <- list(
  note = "nlme on Ovary in data order: max |residuals(m, 'normalized') - definition| per Mare",
  mare = names(d), max_abs_diff = unname(as.numeric(d)))
out[[case$id]] <- case

# ------------------------------------------------------------------ BodyWeight, lme + corCAR1
m <- lme(weight ~ Time * Diet, bw, random = ~1 | Rat, correlation = corCAR1(form = ~Time | Rat))
case <- base_case(m, "bodyweight_lme_car1", "bodyweight",
  "lme(weight ~ Time * Diet, BodyWeight, random = ~1|Rat, correlation = corCAR1(form = ~Time|Rat))",
  list(fn = "lmer", formula = "weight ~ Time * Diet + (1 | Rat)", reml = TRUE,
       residual = list(type = "CAR1", form = "Time | Rat")))
case$phi <- as.numeric(coef(m$modelStruct$corStruct, unconstrained = FALSE))
case$variogram_normalized <- vario_list(Variogram(m, form = ~Time | Rat, resType = "normalized"),
  "Variogram(m, form = ~Time | Rat, resType = \"normalized\")")
case$variogram_pearson <- vario_list(Variogram(m, form = ~Time | Rat, resType = "pearson"),
  "Variogram(m, form = ~Time | Rat, resType = \"pearson\")")
case$variogram_normalized_fixed <- vario_list(
  Variogram(m, form = ~Time | Rat, resType = "normalized", collapse = "fixed", nint = 10),
  "Variogram(m, form = ~Time | Rat, resType = \"normalized\", collapse = \"fixed\", nint = 10)")
case$variogram_normalized_robust <- vario_list(
  Variogram(m, form = ~Time | Rat, resType = "normalized", robust = TRUE, maxDist = 40),
  "Variogram(m, form = ~Time | Rat, resType = \"normalized\", robust = TRUE, maxDist = 40)")
out[[case$id]] <- case

# ------------------------------------------------------------------ sleepstudy, no corStruct
m <- lme(Reaction ~ Days, sleep, random = ~Days | Subject)
case <- base_case(m, "sleepstudy_lme", "sleepstudy",
  "lme(Reaction ~ Days, sleepstudy, random = ~Days|Subject)",
  list(fn = "lmer", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE))
case$variogram_normalized <- vario_list(Variogram(m, form = ~Days | Subject, resType = "normalized"),
  "Variogram(m, form = ~Days | Subject, resType = \"normalized\")")
out[[case$id]] <- case

writeLines(toJSON(list(cases = unname(out)), digits = NA, pretty = TRUE, auto_unbox = TRUE,
                  null = "null"),
           "tests/reference/plots_data.json")
