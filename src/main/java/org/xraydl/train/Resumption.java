package org.xraydl.train;

import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.PatientSplit;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.model.io.ModelZip;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.ResumeRules;
import org.xraydl.run.RunDirectory;
import org.xraydl.run.RunRecovery;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * A run taken up again from its last.zip (--resume): the run folder locked, repaired after a kill
 * ({@link RunRecovery}), the checkpoint, its history, and the run's own images and split from
 * split.csv (never a new scan or split, which would move trained images into validation).
 */
record Resumption(RunDirectory dir, ModelBundle checkpoint, ImageFolder folder, PatientSplit.Split split,
                  List<EpochRecord> history) {

    /** Refuses a --resume argument that is not an existing last.zip, before anything is locked or read. */
    static void refuseArgument(Path lastZip) {
        if (!RunDirectory.LAST.equals(String.valueOf(lastZip.getFileName()))) {
            throw new UserError("--resume takes a run's " + RunDirectory.LAST + " (it holds the epoch count and the optimizer state), got "
                    + lastZip);
        }
        if (!Files.isRegularFile(lastZip)) {
            throw new UserError("--resume " + lastZip + ": file not found (pass runs/<name>/" + RunDirectory.LAST + ")");
        }
    }

    /** Opens {@code lastZip}'s run for more epochs under {@code c}; the caller closes {@code dir()} (the lock). */
    static Resumption open(Path lastZip, RunConfig c, PrintStream out) {
        refuseArgument(lastZip);
        Path runFolder = lastZip.toAbsolutePath().getParent();
        // Lock first: nothing is read or repaired while another training writes into the folder.
        RunDirectory dir = RunDirectory.resume(runFolder);
        try {
            RunRecovery.removeTempFiles(dir, out);
            ResumeRules.refuseChanges(dir.path(), c, key -> key);
            ModelBundle checkpoint = ModelBundle.load(lastZip);
            ResumeRules.refuseForeignCheckpoint(dir.path(), lastZip, checkpoint.config());
            if (c.emaDecay() > 0 && checkpoint.weightAverage() == null) {
                // emaDecay itself cannot change on resume (ResumeRules): a run with it saves the average in every last.zip.
                throw new UserError("--resume " + lastZip + " holds no weight average (" + ModelZip.WEIGHT_AVERAGE + ") although its run has emaDecay "
                        + c.emaDecay() + ": the file was not written by this run's training; resume a last.zip of this run, or start a new run");
            }
            List<EpochRecord> history = RunRecovery.reconcileHistory(dir, checkpoint.provenance(), out);
            if (RunRecovery.lastIsBest(checkpoint.provenance())) {
                // A kill after last.zip and before best.zip leaves best.zip an epoch behind: last.zip is the best model
                // (with emaDecay, its averaged weights, as the epoch's own best.zip would have had them).
                WeightAverage.saveWith(new ModelBundle(checkpoint.network(), checkpoint.preprocessing(), checkpoint.config(),
                        checkpoint.provenance(), checkpoint.decision()), checkpoint.weightAverage(), dir.resolve(RunDirectory.BEST));
            }
            PatientSplit.Split s = RunDirectory.readSplit(dir.resolve(RunDirectory.SPLIT));
            List<LabeledImage> all = new ArrayList<>(s.train());
            all.addAll(s.validation());
            List<String> labels = List.copyOf(new TreeSet<>(all.stream().map(LabeledImage::label).toList()));
            if (!checkpoint.preprocessing().labels().equals(labels)) {
                throw new UserError("--resume " + lastZip + " was trained on labels " + checkpoint.preprocessing().labels() + ", "
                        + dir.resolve(RunDirectory.SPLIT) + " has " + labels + ": the run folder was changed by hand, start a new run");
            }
            Object root = checkpoint.provenance().get("dataRoot");
            // The run's skipped files come from split.csv too, so its reports keep counting them after a resume.
            ImageFolder folder = new ImageFolder(Path.of(root != null ? root.toString() : c.data()), labels, List.copyOf(all),
                    RunDirectory.readSkipped(dir.resolve(RunDirectory.SPLIT)), List.of());
            dir.writeConfig(c); // the same run, perhaps with more epochs or another time budget
            return new Resumption(dir, checkpoint, folder, s, history);
        } catch (RuntimeException e) {
            dir.close();
            throw e;
        }
    }
}
