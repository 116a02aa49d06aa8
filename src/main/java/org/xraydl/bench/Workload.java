package org.xraydl.bench;

import org.xraydl.UserError;
import org.xraydl.model.ModelFactory;

import java.util.Locale;

/** One benchmark cell: which network, at which input size and batch, doing which step. */
public record Workload(String model, int size, int batch, Step step) {

    public Workload {
        model = model.toLowerCase(Locale.ROOT);
        if (!ModelFactory.MODELS.contains(model)) {
            throw new UserError("unknown model '" + model + "': use one of " + String.join(", ", ModelFactory.MODELS));
        }
        if (size < 32) {
            throw new UserError("--size must be at least 32, got " + size);
        }
        if (batch < 1) {
            throw new UserError("--batch must be at least 1, got " + batch);
        }
    }

    /** e.g. {@code densenet121@128/full}. */
    public String label() {
        return model + "@" + size + "/" + step.id();
    }
}
