package org.xraydl.ui;

import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import org.deeplearning4j.ui.VertxUIServer;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.function.Consumer;

/**
 * DL4J's Vert.x UI server, listening on one address and port of our choosing.
 *
 * <p>{@link VertxUIServer} always listens on 0.0.0.0 ({@code HttpServer.listen(port, handler)}) on the
 * port of a static field or a system property. This subclass keeps all of DL4J's modules, routes and
 * storage handling, and only swaps the {@link Vertx} it is given for a view whose HTTP servers listen on
 * {@code host:port} instead, and whose router also gets our own routes.
 */
final class BoundUIServer extends VertxUIServer {
    private final String host;
    private final int port;
    private final Consumer<Router> extraRoutes;

    BoundUIServer(String host, int port, Consumer<Router> extraRoutes) {
        super(); // registers this object as VertxUIServer's singleton, so UIServer.getInstance() finds it
        this.host = host;
        this.port = port;
        this.extraRoutes = extraRoutes;
    }

    @Override
    public void init(Vertx vertx, Context context) {
        super.init(boundVertx(vertx), context);
    }

    private Vertx boundVertx(Vertx real) {
        InvocationHandler h = (proxy, m, args) -> {
            if (m.getName().equals("createHttpServer") && m.getParameterCount() == 0) {
                return boundServer(real.createHttpServer());
            }
            return call(real, m, args);
        };
        return (Vertx) Proxy.newProxyInstance(Vertx.class.getClassLoader(), interfaces(real.getClass()), h);
    }

    private HttpServer boundServer(HttpServer real) {
        HttpServer[] self = new HttpServer[1];
        InvocationHandler h = (proxy, m, args) -> {
            Class<?>[] p = m.getParameterTypes();
            if (m.getName().equals("listen") && p.length >= 1 && p[0] == int.class
                    && (p.length == 1 || (p.length == 2 && p[1] == Handler.class))) {
                // listen(port) / listen(port, handler): DL4J's call; ours decides address and port.
                @SuppressWarnings("unchecked")
                Handler<io.vertx.core.AsyncResult<HttpServer>> handler = p.length == 2 ? (Handler<io.vertx.core.AsyncResult<HttpServer>>) args[1] : null;
                real.listen(port, host, handler);
                return self[0];
            }
            if (m.getName().equals("requestHandler") && args != null && args.length == 1 && args[0] instanceof Router r) {
                extraRoutes.accept(r);
            }
            Object out = call(real, m, args);
            return out == real ? self[0] : out;
        };
        self[0] = (HttpServer) Proxy.newProxyInstance(HttpServer.class.getClassLoader(), interfaces(real.getClass()), h);
        return self[0];
    }

    private static Object call(Object target, Method m, Object[] args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static Class<?>[] interfaces(Class<?> k) {
        Set<Class<?>> all = new LinkedHashSet<>();
        for (Class<?> c = k; c != null; c = c.getSuperclass()) {
            for (Class<?> i : c.getInterfaces()) {
                if (java.lang.reflect.Modifier.isPublic(i.getModifiers())) {
                    all.add(i);
                }
            }
        }
        return all.toArray(new Class<?>[0]);
    }
}
