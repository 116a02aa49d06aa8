package org.xraydl.run;

import com.fasterxml.jackson.databind.JsonNode;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * What a resumed run may change. A run is one configuration: its config.yaml (also stored in
 * every model zip) must describe every epoch, and its split.csv fixes which images are trained on
 * and which validate. So a resume may only change when training stops (epochs, time budget,
 * early-stopping patience), whether the end-of-run TTA operating point is chosen, and where Spark runs; anything that changes the data, the split, the
 * model, the preprocessing or a training step (batch size, learning rate, workers, engine...) is
 * refused. The batch size is refused too although it leaves the split alone: it changes the
 * gradient noise, the steps per epoch and the meaning of the saved Adam state, so the epochs after
 * the resume would not be the run that config.yaml describes; start a new run for that.
 */
public final class ResumeRules {
    public static final Set<String> MAY_CHANGE = Set.of("epochs", "timeBudgetMinutes", "earlyStoppingPatience", "sparkMaster",
            "ttaOperatingPoint");

    private ResumeRules() {
    }

    /** The run's own configuration (config.yaml in {@code runDir}). */
    public static RunConfig runConfig(Path runDir) {
        Path yaml = runDir.resolve(RunDirectory.CONFIG);
        if (!Files.isRegularFile(yaml)) {
            throw new UserError("run folder " + runDir + " has no " + RunDirectory.CONFIG + ": it is not a complete run folder, start a new run");
        }
        return ConfigLoader.load(yaml, null);
    }

    /**
     * Refuses, in one line naming them, the settings in which {@code given} differs from the run's
     * own config.yaml beyond {@link #MAY_CHANGE}.
     *
     * @param nameOf how to call a config key in the message (e.g. seed → --seed)
     */
    public static void refuseChanges(Path runDir, RunConfig given, Function<String, String> nameOf) {
        List<String> changed = differences(runConfig(runDir), given, nameOf);
        if (!changed.isEmpty()) {
            throw new UserError("--resume continues " + runDir + " with its own data, split, model and preprocessing: "
                    + String.join(", ", changed) + (changed.size() > 1 ? " would change them" : " would change it")
                    + "; drop " + (changed.size() > 1 ? "them" : "it") + " (only --epochs, --time-budget-minutes, --set earlyStoppingPatience, "
                    + "--set ttaOperatingPoint and --master may change), or start a new run");
        }
    }

    /** Refuses a checkpoint whose stored configuration is not the run's config.yaml (a folder changed by hand). */
    public static void refuseForeignCheckpoint(Path runDir, Path checkpoint, RunConfig checkpointConfig) {
        List<String> changed = differences(runConfig(runDir), checkpointConfig, key -> key);
        if (!changed.isEmpty()) {
            throw new UserError(checkpoint + " was trained with other settings than " + runDir.resolve(RunDirectory.CONFIG)
                    + " (" + String.join(", ", changed) + "): resume a checkpoint of this run, or start a new run");
        }
    }

    /** "name (run R, given G)" for each key outside {@link #MAY_CHANGE} whose value differs. */
    static List<String> differences(RunConfig run, RunConfig given, Function<String, String> nameOf) {
        JsonNode a = ConfigLoader.JSON.valueToTree(run);
        JsonNode b = ConfigLoader.JSON.valueToTree(given);
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = a.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!MAY_CHANGE.contains(key) && !a.get(key).equals(b.get(key))) {
                out.add(nameOf.apply(key) + " (run " + a.get(key) + ", given " + b.get(key) + ")");
            }
        }
        return out;
    }
}
