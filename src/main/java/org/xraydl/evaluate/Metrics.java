package org.xraydl.evaluate;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

import java.util.List;

/**
 * Binary diagnostic metrics with PNEUMONIA as the positive class, an image being called positive
 * when its positive-class probability is {@code >= threshold}. {@code confusion} rows are the
 * true class, columns the predicted class, both in {@code labels} order. {@code ece}: expected
 * calibration error of the positive-class probability (see {@link Calibration}). {@code loss} is the mean
 * unweighted cross-entropy (NaN when not computed).
 */
@JsonPropertyOrder({"n", "accuracy", "sensitivity", "specificity", "precision", "f1", "auc", "ece", "threshold", "loss", "positive", "labels", "confusion", "ci95"})
public record Metrics(
        @JsonProperty("n") int n,
        @JsonProperty("accuracy") double accuracy,
        @JsonProperty("sensitivity") double sensitivity,
        @JsonProperty("specificity") double specificity,
        @JsonProperty("precision") double precision,
        @JsonProperty("f1") double f1,
        @JsonProperty("auc") double auc,
        @JsonProperty("loss") double loss,
        @JsonProperty("positive") String positive,
        @JsonProperty("labels") List<String> labels,
        @JsonProperty("confusion") int[][] confusion,
        /* 95% intervals [low, high] for accuracy, sensitivity, specificity, precision (Wilson) and auc (Hanley-McNeil). */
        @JsonProperty("ci95") java.util.Map<String, double[]> ci95,
        @JsonProperty("threshold") double threshold,
        @JsonProperty("ece") double ece) {
}
