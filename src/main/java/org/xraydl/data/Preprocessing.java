package org.xraydl.data;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.xraydl.config.RunConfig;

import java.util.List;

/**
 * What a model needs to turn a file into an input tensor, saved inside every model zip so
 * evaluate and predict use exactly the preprocessing of training.
 *
 * <p>{@code resampling} is a {@link Resampling} key; a zip written before it existed has none and reads as
 * {@code opencv}, the only filter there was (Jackson passes null for the missing field).
 */
public record Preprocessing(
        @JsonProperty("labels") List<String> labels,
        @JsonProperty("imageSize") int imageSize,
        @JsonProperty("channels") int channels,
        @JsonProperty("resizeRatio") double resizeRatio,
        @JsonProperty("normalization") String normalization,
        @JsonProperty("resampling") String resampling) {

    public Preprocessing {
        resampling = resampling == null ? Resampling.OPENCV.key() : Resampling.of(resampling).key();
    }

    /** With OpenCV resampling (the default). */
    public Preprocessing(List<String> labels, int imageSize, int channels, double resizeRatio, String normalization) {
        this(labels, imageSize, channels, resizeRatio, normalization, null);
    }

    public static Preprocessing of(RunConfig c, List<String> labels) {
        return new Preprocessing(List.copyOf(labels), c.imageSize(), 3, c.resizeRatio(), c.normalization(), c.resampling());
    }

    public int resizeTo() {
        return (int) Math.round(imageSize * resizeRatio);
    }

    /** The filter of every resize: the training crop's and the evaluation resize's. */
    public Resampling filter() {
        return Resampling.of(resampling);
    }
}
