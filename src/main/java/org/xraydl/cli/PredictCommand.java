package org.xraydl.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import org.xraydl.UserError;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.predict.Predictor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Print one JSON line per image: class (decided with --threshold), confidence, probabilities, threshold "
                + "(an unreadable image gets an error line).")
public class PredictCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Model zip from a run (best.zip / last.zip)")
    Path model;
    @Option(names = "--threshold", defaultValue = ThresholdOption.STORED, description = ThresholdOption.DESCRIPTION)
    String threshold;
    @Option(names = "--tta", description = "Test-time augmentation: average the probabilities over shifted and zoomed crops")
    boolean tta;
    @Parameters(arity = "1..*", paramLabel = "IMAGE_OR_FOLDER")
    List<Path> inputs;

    @Override
    public Integer call() throws JsonProcessingException {
        ModelBundle bundle = ModelBundle.load(model);
        ThresholdOption t = ThresholdOption.resolve(threshold, bundle, model);
        Predictor predictor = new Predictor(bundle, tta, t.value());
        List<Path> files = Predictor.expand(inputs);
        if (files.isEmpty()) {
            throw new UserError("no images found in " + inputs);
        }
        int failed = 0;
        com.fasterxml.jackson.databind.ObjectMapper compact = new com.fasterxml.jackson.databind.ObjectMapper();
        for (Path f : files) {
            Predictor.Answer a = predictor.predict(f);
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("file", a.file());
            if (a.ok()) {
                line.put("class", a.predictedClass());
                line.put("confidence", Math.round(a.confidence() * 1e4) / 1e4);
                Map<String, Double> probs = new LinkedHashMap<>();
                a.probabilities().forEach((k, v) -> probs.put(k, Math.round(v * 1e4) / 1e4));
                line.put("probabilities", probs);
                line.put("threshold", a.threshold());
                if (tta) {
                    line.put("tta", true);
                }
            } else {
                line.put("error", a.error());
                failed++;
            }
            System.out.println(compact.writeValueAsString(line));
        }
        if (failed > 0) {
            System.err.println("warning: " + failed + " of " + files.size() + " images could not be read");
            return 1;
        }
        return 0;
    }
}
