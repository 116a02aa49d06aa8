package org.xraydl.model.io;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * How a model's outputs become a decision, chosen on the validation split after training and
 * stored in the model zip: first temperature {@code temperature} (1 = none) is applied to the
 * class probabilities, then an image is {@code positive} when its {@code positive}-class
 * probability is {@code >= threshold}. {@code method} (sensitivity | youden) and
 * {@code targetSensitivity} say how the threshold was chosen.
 */
public record DecisionRule(
        @JsonProperty("positive") String positive,
        @JsonProperty("threshold") double threshold,
        @JsonProperty("method") String method,
        @JsonProperty("targetSensitivity") double targetSensitivity,
        @JsonProperty("temperature") double temperature) {
}
