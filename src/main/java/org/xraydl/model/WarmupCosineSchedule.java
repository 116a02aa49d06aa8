package org.xraydl.model;

import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.Objects;

/**
 * Learning rate by iteration: linear warm-up from {@code min} to {@code peak} over
 * {@code warmupIterations}, then a half cosine from {@code peak} down to {@code min} at
 * {@code totalIterations}, and {@code min} after that. ND4J has no cosine schedule.
 * DL4J stores schedules in the model zip's configuration.json (ND4J's shaded Jackson, class name
 * as type id), hence the annotated fields and creator.
 */
public final class WarmupCosineSchedule implements ISchedule {
    @JsonProperty("peak")
    private final double peak;
    @JsonProperty("min")
    private final double min;
    @JsonProperty("warmupIterations")
    private final int warmupIterations;
    @JsonProperty("totalIterations")
    private final int totalIterations;

    @JsonCreator
    public WarmupCosineSchedule(@JsonProperty("peak") double peak, @JsonProperty("min") double min,
                                @JsonProperty("warmupIterations") int warmupIterations,
                                @JsonProperty("totalIterations") int totalIterations) {
        if (warmupIterations < 0 || warmupIterations >= totalIterations) {
            throw new IllegalArgumentException("warm-up " + warmupIterations + " must be in [0, " + totalIterations + ")");
        }
        this.peak = peak;
        this.min = min;
        this.warmupIterations = warmupIterations;
        this.totalIterations = totalIterations;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        if (iteration < warmupIterations) {
            return min + (peak - min) * iteration / warmupIterations;
        }
        double t = Math.min(1.0, (iteration - warmupIterations) / (double) (totalIterations - warmupIterations));
        return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * t));
    }

    @Override
    public ISchedule clone() {
        return new WarmupCosineSchedule(peak, min, warmupIterations, totalIterations);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof WarmupCosineSchedule s && s.peak == peak && s.min == min
                && s.warmupIterations == warmupIterations && s.totalIterations == totalIterations;
    }

    @Override
    public int hashCode() {
        return Objects.hash(peak, min, warmupIterations, totalIterations);
    }

    @Override
    public String toString() {
        return "WarmupCosineSchedule(peak=" + peak + ", min=" + min + ", warmupIterations=" + warmupIterations
                + ", totalIterations=" + totalIterations + ")";
    }
}
