package org.xraydl.spark;

import org.apache.spark.SparkEnv;
import org.nd4j.parameterserver.distributed.v2.transport.PortSupplier;

/**
 * UDP ports of gradient sharing: the driver's parameter server listens on {@code driverPort}, every
 * executor on {@code executorBase + executorId % 1000}. DL4J's default gives all of them one static
 * port, so an executor on the driver's host (client mode on a worker node, a one-machine cluster)
 * binds the driver's port too, and the driver silently never receives an update. In local[N] the
 * "executors" are the driver JVM and share its parameter server, so they get {@code driverPort}.
 */
final class SplitPortSupplier implements PortSupplier {
    private static final long serialVersionUID = 1L;
    private final int driverPort;
    private final int executorBase;

    SplitPortSupplier(int driverPort, int executorBase) {
        this.driverPort = driverPort;
        this.executorBase = executorBase;
    }

    @Override
    public int getPort() {
        SparkEnv env = SparkEnv.get();
        return portFor(env == null ? "driver" : env.executorId());
    }

    int portFor(String executorId) {
        if ("driver".equals(executorId)) {
            return driverPort;
        }
        int n;
        try {
            n = Integer.parseInt(executorId);
        } catch (NumberFormatException e) {
            n = executorId.hashCode();
        }
        return executorBase + Math.floorMod(n, 1000);
    }

    @Override
    public String toString() {
        return "driver UDP " + driverPort + ", executors UDP " + executorBase + "+id";
    }
}
