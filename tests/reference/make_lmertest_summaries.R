# Makes tests/reference/summaries/sleep_lmertest*.txt: lmerTest's printed summary (df,
# p-values and stars) for the layout tests. Run from the repository root with
# `Rscript tests/reference/make_lmertest_summaries.R` (R 4.2.2, lmerTest 3.1.3).
suppressMessages(library(lmerTest))
sleepstudy <- read.csv("data/sleepstudy.csv", colClasses = c(Subject = "character"))
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
writeLines(capture.output(print(summary(m))), "tests/reference/summaries/sleep_lmertest.txt")
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)
writeLines(capture.output(print(summary(m))), "tests/reference/summaries/sleep_lmertest_ml.txt")
