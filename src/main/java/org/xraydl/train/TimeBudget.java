package org.xraydl.train;

/**
 * The time budget's two decisions ({@code timeBudgetMinutes}), as arithmetic on times measured by
 * {@link Trainer}: whether another epoch still fits, and whether the end-of-run TTA operating-point pass does.
 */
final class TimeBudget {
    private TimeBudget() {
    }

    /**
     * Another epoch is started only if, at the mean epoch time so far, it would end within the budget with
     * {@code reserveMin} (the estimated TTA pass, 0 when it is off) still left.
     */
    static boolean anotherEpochFits(double budgetMin, double elapsedMin, double meanEpochMin, double reserveMin) {
        return elapsedMin + meanEpochMin + reserveMin <= budgetMin;
    }

    /** The TTA pass runs only if its estimated cost fits in what the budget has left. */
    static boolean ttaPassFits(double leftSeconds, double estimateSeconds) {
        return estimateSeconds <= leftSeconds;
    }
}
