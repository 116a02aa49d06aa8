package org.xraydl.data;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.xraydl.config.RunConfig;

import java.util.List;

/**
 * What a model needs to turn a file into an input tensor, saved inside every model zip so
 * evaluate and predict use exactly the preprocessing of training.
 */
public record Preprocessing(
        @JsonProperty("labels") List<String> labels,
        @JsonProperty("imageSize") int imageSize,
        @JsonProperty("channels") int channels,
        @JsonProperty("resizeRatio") double resizeRatio,
        @JsonProperty("normalization") String normalization) {

    public static Preprocessing of(RunConfig c, List<String> labels) {
        return new Preprocessing(List.copyOf(labels), c.imageSize(), 3, c.resizeRatio(), c.normalization());
    }

    public int resizeTo() {
        return (int) Math.round(imageSize * resizeRatio);
    }
}
