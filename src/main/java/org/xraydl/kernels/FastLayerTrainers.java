package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.deeplearning4j.parallelism.factory.DefaultTrainerContext;
import org.deeplearning4j.parallelism.trainer.DefaultTrainer;
import org.deeplearning4j.parallelism.trainer.Trainer;

/**
 * ParallelWrapper's trainer factory for parameter averaging (the project's only training mode),
 * changed in one respect: each worker's replica (a fresh ComputationGraph built from the
 * configuration, so with DL4J's own layer code) gets the pipeline's {@link FastLayers} like the
 * model it copies.
 */
public final class FastLayerTrainers {

    private FastLayerTrainers() {
    }

    /**
     * Replaces the trainer factory of a wrapper built with {@code TrainingMode.AVERAGING}. Must run
     * after {@code build()} and before the first {@code fit} (workers are created lazily there): in DL4J 1.0.0-M2.1
     * {@code ParallelWrapper.Builder.build()} overwrites any {@code trainerFactory(...)} with the
     * default of the training mode, so the builder option cannot be used; the wrapper's public
     * setter (no reflection) can.
     */
    public static void install(ParallelWrapper wrapper) {
        wrapper.setTrainerContext(new Averaging());
    }

    private static void engage(Model replica) {
        if (replica instanceof ComputationGraph g) {
            FastLayers.engage(g);
        }
    }

    static final class Averaging extends DefaultTrainerContext {
        @Override
        public Trainer create(String uuid, int threadId, Model model, int rootDevice, boolean useMDS, ParallelWrapper wrapper,
                              WorkspaceMode mode, int averagingFrequency) {
            DefaultTrainer trainer = new EngagingDefaultTrainer(uuid, threadId, model, useMDS, wrapper, mode, averagingFrequency);
            trainer.setName("DefaultTrainer thread " + threadId);
            trainer.setDaemon(true);
            return trainer;
        }
    }

    /** DefaultTrainer has a builder and no setters: its protected fields are set here as the builder would. */
    private static final class EngagingDefaultTrainer extends DefaultTrainer {
        EngagingDefaultTrainer(String uuid, int threadId, Model model, boolean useMDS, ParallelWrapper wrapper,
                               WorkspaceMode mode, int averagingFrequency) {
            this.originalModel = model;
            this.replicatedModel = model;
            this.threadId = threadId;
            this.parallelWrapper = wrapper;
            this.workspaceMode = mode;
            this.useMDS = useMDS;
            this.uuid = uuid + "_thread_" + threadId;
            this.averagingFrequency = averagingFrequency;
        }

        @Override
        protected void postInit() {
            super.postInit();
            engage(replicatedModel);
        }
    }
}
