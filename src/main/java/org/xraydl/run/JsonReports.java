package org.xraydl.run;

import org.xraydl.config.ConfigLoader;
import org.xraydl.evaluate.Metrics;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;

/** JSON renderings of results (metrics.json, evaluate --json). */
public final class JsonReports {

    private JsonReports() {
    }

    public static String metricsJson(Metrics m, Map<String, Object> extra) {
        Map<String, Object> out = new LinkedHashMap<>(ConfigLoader.JSON.convertValue(m, Map.class));
        if (extra != null) {
            out.putAll(extra);
        }
        try {
            return ConfigLoader.JSON.writeValueAsString(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
