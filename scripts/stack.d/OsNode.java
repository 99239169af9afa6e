// OsNode — a minimal OpenSearch 2.19 single-node launcher for the redstream local stack.
//
// Run with Java's single-file source launcher (no build step):
//   java <jvm flags> -cp '<cache>/opensearch-2.19.6/lib/*' scripts/stack.d/OsNode.java <home> <config-dir>
//
// <home> becomes path.home; <config-dir> must hold opensearch.yml and log4j2.properties
// (scripts/stack renders both). Settings come from opensearch.yml; only path.home is set here.
//
// Constructing a Node directly (instead of org.opensearch.bootstrap.Bootstrap) skips the native
// initialisation, jar-hell check, SecurityManager and bootstrap checks, so it runs as root and
// from a flat Maven classpath. The plugins below are loaded as classpath plugins.
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

public class OsNode {

    static final List<Class<? extends Plugin>> PLUGINS = List.of(
            org.opensearch.transport.Netty4Plugin.class,
            org.opensearch.analysis.common.CommonAnalysisPlugin.class,
            org.opensearch.index.mapper.MapperExtrasPlugin.class,
            org.opensearch.painless.PainlessPlugin.class,
            org.opensearch.index.reindex.ReindexPlugin.class,
            org.opensearch.ingest.common.IngestCommonPlugin.class);

    /** Node's plugin constructor is protected: a subclass exposes it. */
    static final class ClasspathNode extends Node {
        ClasspathNode(Environment env) {
            super(env, PLUGINS, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: OsNode <path.home> <config-dir>");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path configDir = Path.of(args[1]).toAbsolutePath();

        Settings input = Settings.builder().put("path.home", home.toString()).build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(
                input, Collections.emptyMap(), configDir, () -> "redstream-os");

        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(env.settings()));
        LogConfigurator.configure(env);

        Node node = new ClasspathNode(env);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(10, TimeUnit.SECONDS)) {
                    System.err.println("OsNode: node did not close within 10s");
                }
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "osnode-shutdown"));

        try {
            node.start();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.out.println("OsNode: started");
        stopped.await(); // keep-alive: the node's own threads are daemons
    }
}
