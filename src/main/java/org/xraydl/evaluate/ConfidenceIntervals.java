package org.xraydl.evaluate;

/**
 * 95% confidence intervals for the diagnostic metrics, so a validation split of a few hundred
 * images is not read more precisely than it is. Proportions: Wilson score interval (good at
 * small n and near 0 or 1). ROC AUC: Hanley and McNeil (Radiology, 1982) standard error.
 */
public final class ConfidenceIntervals {
    /** Two-sided 95% normal quantile. */
    public static final double Z95 = 1.959963984540054;

    private ConfidenceIntervals() {
    }

    /** Wilson interval for {@code successes} out of {@code n}; NaNs when n = 0. */
    public static double[] wilson(double successes, double n) {
        if (n <= 0) {
            return new double[]{Double.NaN, Double.NaN};
        }
        double p = successes / n;
        double z2 = Z95 * Z95;
        double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        double half = Z95 * Math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
        return new double[]{Math.max(0, centre - half), Math.min(1, centre + half)};
    }

    /** AUC +- 1.96 SE with Hanley-McNeil's SE, clipped to [0, 1]; NaNs without both classes. */
    public static double[] hanleyMcNeil(double auc, int positives, int negatives) {
        if (Double.isNaN(auc) || positives == 0 || negatives == 0) {
            return new double[]{Double.NaN, Double.NaN};
        }
        double q1 = auc / (2 - auc);
        double q2 = 2 * auc * auc / (1 + auc);
        double var = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc))
                / ((double) positives * negatives);
        double half = Z95 * Math.sqrt(Math.max(0, var));
        return new double[]{Math.max(0, auc - half), Math.min(1, auc + half)};
    }
}
