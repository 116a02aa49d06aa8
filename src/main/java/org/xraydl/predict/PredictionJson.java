package org.xraydl.predict;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.LinkedHashMap;
import java.util.Map;

/** The JSON object for one answer, as {@code predict} prints it per line and {@code serve} returns it. */
public final class PredictionJson {
    /** Compact (one line) writer for these objects. */
    public static final ObjectMapper COMPACT = new ObjectMapper();

    private PredictionJson() {
    }

    /** {@code file}, then {@code class}, {@code confidence}, {@code probabilities} (4 decimals) and {@code threshold}, or {@code error}. */
    public static Map<String, Object> of(Predictor.Answer a) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("file", a.file());
        if (a.ok()) {
            line.put("class", a.predictedClass());
            line.put("confidence", round4(a.confidence()));
            Map<String, Double> probs = new LinkedHashMap<>();
            a.probabilities().forEach((k, v) -> probs.put(k, round4(v)));
            line.put("probabilities", probs);
            line.put("threshold", a.threshold());
        } else {
            line.put("error", a.error());
        }
        return line;
    }

    static double round4(double v) {
        return Math.round(v * 1e4) / 1e4;
    }
}
