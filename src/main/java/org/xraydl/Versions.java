package org.xraydl;

import org.deeplearning4j.nn.graph.ComputationGraph;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** Versions of the libraries in use, read from their jars (for provenance and benchmark records). */
public final class Versions {
    /** Maven writes this into every jar it builds; deeplearning4j-nn's jar manifest has no version. */
    static final String DL4J_POM_PROPERTIES = "/META-INF/maven/org.deeplearning4j/deeplearning4j-nn/pom.properties";

    private static final String DL4J = read(DL4J_POM_PROPERTIES);

    private Versions() {
    }

    /** The Deeplearning4j version on the class path, e.g. {@code 1.0.0-M2.1}, or {@code unknown} if its jar has no Maven metadata. */
    public static String dl4j() {
        return DL4J;
    }

    private static String read(String pomProperties) {
        try (InputStream in = ComputationGraph.class.getResourceAsStream(pomProperties)) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
