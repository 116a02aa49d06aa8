package org.xraydl.serve;

import org.xraydl.data.Preprocessing;
import org.xraydl.model.io.ModelBundle;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@code GET /model} says about the served model: labels, input, architecture, the threshold in use and
 * the decision rule stored in the zip (if any), and provenance.
 */
final class ModelInfo {
    private ModelInfo() {
    }

    static Map<String, Object> of(ModelBundle bundle, double threshold) {
        Preprocessing pre = bundle.preprocessing();
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("labels", pre.labels());
        info.put("model", bundle.config().model());
        Map<String, Object> input = new LinkedHashMap<>();
        input.put("imageSize", pre.imageSize());
        input.put("channels", pre.channels());
        input.put("resizeTo", pre.resizeTo());
        input.put("normalization", pre.normalization());
        info.put("input", input);
        info.put("threshold", threshold);
        if (bundle.decision() != null) {
            info.put("storedDecision", bundle.decision());
        }
        info.put("provenance", bundle.provenance());
        return info;
    }
}
