package org.xraydl.ui;

import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.xraydl.UserError;

import java.nio.file.Files;
import java.nio.file.Path;

/** A run folder's DL4J UI stats: {@value #FILE}, a MapDB file written by a {@link FileStatsStorage}. */
public final class RunStats {
    public static final String FILE = "stats.dl4j";

    private RunStats() {
    }

    public static Path file(Path runDir) {
        return runDir.resolve(FILE);
    }

    /** Opens (or creates) the run's stats file; one line naming the file if that is not possible. */
    public static FileStatsStorage open(Path runDir) {
        Path f = file(runDir);
        try {
            return new FileStatsStorage(f.toFile());
        } catch (RuntimeException e) {
            String why = String.valueOf(e.getMessage());
            if (e.getClass().getName().contains("FileLocked") || why.contains("locked")) {
                throw new UserError(f + " is open in another process (a training or a ui command on the same run?): "
                        + "stop that process first, or watch the live run with train --ui");
            }
            throw new UserError("cannot open " + f + " as DL4J UI stats (" + e.getClass().getSimpleName() + ": "
                    + firstLine(why) + "): is it a stats file written by train --ui or --stats?");
        }
    }

    /** Opens an existing run's stats for viewing; one line if the folder or its stats file is missing. */
    public static FileStatsStorage openExisting(Path runDir) {
        if (!Files.isDirectory(runDir)) {
            throw new UserError("run folder not found: " + runDir + " (give a folder like runs/<name>)");
        }
        if (!Files.isRegularFile(file(runDir))) {
            throw new UserError("no " + FILE + " in " + runDir + ": only runs trained with --ui, --ui-remote or --stats record UI stats");
        }
        FileStatsStorage s = open(runDir);
        if (s.listSessionIDs().isEmpty()) {
            s.close();
            throw new UserError(file(runDir) + " holds no training session (the run stopped before its first iteration?)");
        }
        return s;
    }

    private static String firstLine(String s) {
        return s.lines().findFirst().orElse("");
    }
}
