package org.xraydl.cli;

import org.xraydl.UserError;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.model.io.ModelBundle;

import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code --threshold stored|0.5|VALUE} of evaluate and predict: the operating threshold on the positive-class
 * probability. {@code stored} (the default) is the one chosen on the validation split by the training run and
 * kept in the model zip; a zip without one (older runs) falls back to 0.5 with a note on stderr.
 */
record ThresholdOption(double value, String source) {
    static final String STORED = "stored";
    static final String DESCRIPTION = "Decision threshold on P(PNEUMONIA): stored (default: the one chosen on validation, "
            + "kept in the model zip), 0.5, or any value in [0, 1]";

    static ThresholdOption resolve(String option, ModelBundle bundle, Path model) {
        if (option == null || STORED.equalsIgnoreCase(option)) {
            if (bundle.decision() == null) {
                System.err.printf(Locale.ROOT, "note: %s has no stored threshold (trained before thresholds were stored): using %.1f%n",
                        model, MetricsCalculator.DEFAULT_THRESHOLD);
                return new ThresholdOption(MetricsCalculator.DEFAULT_THRESHOLD, "default (none stored)");
            }
            return new ThresholdOption(bundle.decision().threshold(), "stored (" + bundle.decision().method() + ")");
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
        return new ThresholdOption(t, "given");
    }
}
