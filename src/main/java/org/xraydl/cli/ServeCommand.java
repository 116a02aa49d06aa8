package org.xraydl.cli;

import org.xraydl.model.io.ModelBundle;
import org.xraydl.serve.PredictionServer;
import org.xraydl.serve.PredictionServer.Limits;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** serve: an HTTP prediction server and drop-an-image page for one model. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a model over HTTP: POST /predict (an image as the body or a multipart file) answers with",
                "predict's JSON (?heatmap=true: plus the Grad-CAM overlay as a base64 PNG); GET / is a page to drop an X-ray on; GET /health, GET /model. Runs until Ctrl-C."})
public class ServeCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Model zip from a run (best.zip / last.zip)")
    Path model;
    @Option(names = "--threshold", defaultValue = ThresholdOption.STORED, description = ThresholdOption.DESCRIPTION)
    String threshold;
    @Option(names = "--port", description = "TCP port (default ${DEFAULT-VALUE}; 0 = any free port)", defaultValue = "8080")
    int port = PredictionServer.DEFAULT_PORT;
    @Option(names = "--host", description = "Address to listen on (default ${DEFAULT-VALUE}, this machine only; 0.0.0.0 = all interfaces)",
            defaultValue = PredictionServer.DEFAULT_HOST)
    String host = PredictionServer.DEFAULT_HOST;
    @Option(names = "--max-bytes", description = "Largest request body in bytes (default ${DEFAULT-VALUE}); larger: 413",
            defaultValue = "10485760")
    long maxBytes = Limits.DEFAULT_MAX_BYTES;
    @Option(names = "--max-pixels", description = "Largest image, width x height from its header (default ${DEFAULT-VALUE}); larger: 413",
            defaultValue = "40000000")
    long maxPixels = Limits.DEFAULT_MAX_PIXELS;
    @Option(names = "--max-concurrent", description = "Images answered at once (default ${DEFAULT-VALUE}); more: 503 with Retry-After",
            defaultValue = "2")
    int maxConcurrent = Limits.DEFAULT_MAX_CONCURRENT;
    @Option(names = "--timeout", description = "Seconds a /predict request may take from its first byte to its answer (default ${DEFAULT-VALUE}); longer: 408",
            defaultValue = "60")
    int timeoutSeconds = Limits.DEFAULT_TIMEOUT_SECONDS;

    @Override
    public Integer call() throws InterruptedException {
        Limits limits = new Limits(maxBytes, maxPixels, maxConcurrent, timeoutSeconds);
        ModelBundle bundle = ModelBundle.load(model);
        ThresholdOption t = ThresholdOption.resolve(threshold, bundle, model, false); // serve has no TTA: the plain rule
        try (PredictionServer server = PredictionServer.start(bundle, t.value(), host, port, limits)) {
            if (!server.loopbackOnly()) {
                System.err.println("warning: the prediction server listens on " + host + ":" + server.port()
                        + ", reachable from other machines (the default --host 127.0.0.1 keeps it on this machine)");
            }
            System.out.println("serving " + model + " (threshold " + t.value() + ", " + t.source() + ") at " + server.baseUrl() + "/  (POST /predict, GET /model, GET /health)"
                    + (server.loopbackOnly() ? "; this machine only, --host 0.0.0.0 for other machines" : ""));
            System.out.println("press Ctrl-C to stop");
            System.out.flush();
            server.awaitTermination();
        }
        return 0;
    }
}
