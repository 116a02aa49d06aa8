package org.xraydl.cli;

import org.xraydl.UserError;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.model.io.DecisionRule;
import org.xraydl.model.io.ModelBundle;

import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code --threshold stored|0.5|VALUE} of evaluate, predict and serve: the operating threshold on the positive-class
 * probability. {@code stored} (the default) is the one chosen on the validation split by the training run and
 * kept in the model zip, for the kind of probabilities used: plain, or averaged over the views with {@code --tta}.
 * A zip without any rule (older runs) falls back to 0.5 with a note on stderr.
 */
record ThresholdOption(double value, String source) {
    static final String STORED = "stored";
    static final String DESCRIPTION = "Decision threshold on P(PNEUMONIA): stored (default: the one chosen on validation, "
            + "kept in the model zip; with --tta the one chosen on TTA probabilities), 0.5, or any value in [0, 1]";

    static ThresholdOption resolve(String option, ModelBundle bundle, Path model, boolean tta) {
        DecisionRule rule = bundle.decisionFor(tta);
        if (option == null || STORED.equalsIgnoreCase(option)) {
            if (tta && rule == null) {
                // Refused, not a fallback: the plain threshold on TTA averages gives another sensitivity than the
                // one it was chosen for (the target a clinician relies on), and a warning line is easily lost in a
                // pipeline's logs while every answer after it is silently off. The fix costs the user one flag.
                throw new UserError("model " + model + " has no operating point chosen on TTA probabilities (trained before "
                        + "they were stored, with ttaOperatingPoint: false, or with a time budget that left no room for that pass): "
                        + "pass --threshold VALUE with --tta, drop --tta to use its stored threshold, or retrain with ttaOperatingPoint: true");
            }
            if (rule == null) {
                System.err.printf(Locale.ROOT, "note: %s has no stored threshold (trained before thresholds were stored): using %.1f%n",
                        model, MetricsCalculator.DEFAULT_THRESHOLD);
                return new ThresholdOption(MetricsCalculator.DEFAULT_THRESHOLD, "default (none stored)");
            }
            return new ThresholdOption(rule.threshold(), "stored (" + (tta ? "TTA, " : "") + rule.method() + ")");
        }
        double t;
        try {
            t = Double.parseDouble(option);
        } catch (NumberFormatException e) {
            t = Double.NaN;
        }
        if (!(t >= 0 && t <= 1)) {
            throw new UserError("--threshold " + option + " is not valid: pass stored, 0.5 or a number in [0, 1]");
        }
        if (tta && rule == null && bundle.decision() != null && bundle.decision().temperature() != 1.0) {
            System.err.printf(Locale.ROOT, "note: %s has no temperature fitted on TTA probabilities: they are not rescaled "
                    + "(its stored temperature %.3f was fitted without TTA)%n", model, bundle.decision().temperature());
        }
        return new ThresholdOption(t, "given");
    }
}
