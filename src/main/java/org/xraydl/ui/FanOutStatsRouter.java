package org.xraydl.ui;

import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.core.storage.StorageMetaData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Hands every stats record to several routers (the run's stats.dl4j, a remote UI). Targets can be
 * added while training runs; a target that throws is reported once and never stops training.
 */
final class FanOutStatsRouter implements StatsStorageRouter {
    private static final Logger log = LoggerFactory.getLogger(FanOutStatsRouter.class);

    private final List<StatsStorageRouter> targets = new CopyOnWriteArrayList<>();
    private final Set<StatsStorageRouter> failed = ConcurrentHashMap.newKeySet();

    void add(StatsStorageRouter target) {
        targets.add(target);
    }

    void remove(StatsStorageRouter target) {
        targets.remove(target);
    }

    List<StatsStorageRouter> targets() {
        return List.copyOf(targets);
    }

    private void each(Consumer<StatsStorageRouter> put) {
        for (StatsStorageRouter t : targets) {
            try {
                put.accept(t);
            } catch (RuntimeException e) {
                if (failed.add(t)) {
                    log.warn("training stats could not be stored in {} ({}); training goes on", t, e.toString());
                }
            }
        }
    }

    @Override
    public void putStorageMetaData(StorageMetaData m) {
        each(t -> t.putStorageMetaData(m));
    }

    @Override
    public void putStorageMetaData(Collection<? extends StorageMetaData> m) {
        each(t -> t.putStorageMetaData(m));
    }

    @Override
    public void putStaticInfo(Persistable p) {
        each(t -> t.putStaticInfo(p));
    }

    @Override
    public void putStaticInfo(Collection<? extends Persistable> p) {
        each(t -> t.putStaticInfo(p));
    }

    @Override
    public void putUpdate(Persistable p) {
        each(t -> t.putUpdate(p));
    }

    @Override
    public void putUpdate(Collection<? extends Persistable> p) {
        each(t -> t.putUpdate(p));
    }

    @Override
    public String toString() {
        return "FanOutStatsRouter" + targets;
    }
}
