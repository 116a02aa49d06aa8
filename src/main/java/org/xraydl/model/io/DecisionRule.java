package org.xraydl.model.io;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * How a model's outputs become a decision, chosen on the validation split after training and
 * stored in the model zip: first temperature {@code temperature} (1 = none) is applied to the
 * class probabilities, then an image is {@code positive} when its {@code positive}-class
 * probability is {@code >= threshold}. {@code method} (sensitivity | youden) and
 * {@code targetSensitivity} say how the threshold was chosen.
 * <p>
 * The top-level threshold and temperature were chosen on the plain (centre-crop) probabilities;
 * {@code tta}, when present, holds the ones chosen the same way on the probabilities averaged over
 * the {@code --tta} views, which is a different distribution (zips written before it have none).
 */
public record DecisionRule(
        @JsonProperty("positive") String positive,
        @JsonProperty("threshold") double threshold,
        @JsonProperty("method") String method,
        @JsonProperty("targetSensitivity") double targetSensitivity,
        @JsonProperty("temperature") double temperature,
        @JsonProperty("tta") @JsonInclude(JsonInclude.Include.NON_NULL) Tta tta) {

    /** The threshold and temperature chosen on the probabilities averaged over {@code views} TTA views. */
    public record Tta(@JsonProperty("views") int views,
                      @JsonProperty("threshold") double threshold,
                      @JsonProperty("temperature") double temperature) {
    }

    // Marked creator: Jackson 2.13 does not pick a record's canonical constructor by itself when there is another one.
    @JsonCreator
    public DecisionRule {
    }

    /** A rule for the plain probabilities only. */
    public DecisionRule(String positive, double threshold, String method, double targetSensitivity, double temperature) {
        this(positive, threshold, method, targetSensitivity, temperature, null);
    }

    /**
     * This plain rule with {@code ttaRule} (chosen on TTA probabilities over {@code views} views, same
     * positive class, method and target) as its TTA rule.
     */
    public DecisionRule withTta(DecisionRule ttaRule, int views) {
        if (!positive.equals(ttaRule.positive()) || !method.equals(ttaRule.method())
                || targetSensitivity != ttaRule.targetSensitivity()) {
            throw new IllegalArgumentException("the TTA rule must be chosen like the plain one: " + ttaRule + " vs " + this);
        }
        return new DecisionRule(positive, threshold, method, targetSensitivity, temperature,
                new Tta(views, ttaRule.threshold(), ttaRule.temperature()));
    }

    /** The rule for the plain probabilities (this one without its TTA rule). */
    public DecisionRule plain() {
        return new DecisionRule(positive, threshold, method, targetSensitivity, temperature);
    }

    /** The rule for the probabilities {@code --tta} averages, or null when none was stored. */
    public DecisionRule forTta() {
        return tta == null ? null : new DecisionRule(positive, tta.threshold(), method, targetSensitivity, tta.temperature());
    }
}
