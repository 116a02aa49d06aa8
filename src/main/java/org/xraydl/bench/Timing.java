package org.xraydl.bench;

import org.xraydl.UserError;

/**
 * How long to measure: {@code warmup} untimed iterations (JIT, workspaces, helper set-up), then
 * iterations until {@code seconds} have passed (at least {@code minIterations}, at most
 * {@code maxIterations} when that is positive; tests cap it).
 */
public record Timing(double seconds, int warmup, int minIterations, int maxIterations) {

    public Timing {
        if (!(seconds >= 0) || Double.isInfinite(seconds)) {
            throw new UserError("--seconds must be a finite number >= 0, got " + seconds);
        }
        if (warmup < 0) {
            throw new UserError("--warmup must be >= 0, got " + warmup);
        }
        if (minIterations < 1) {
            throw new UserError("at least one timed iteration is needed, got " + minIterations);
        }
        if (maxIterations > 0 && maxIterations < minIterations) {
            throw new UserError("--max-iterations (" + maxIterations + ") is below the minimum of " + minIterations);
        }
    }

    public static Timing of(double seconds, int warmup) {
        return new Timing(seconds, warmup, 1, 0);
    }
}
