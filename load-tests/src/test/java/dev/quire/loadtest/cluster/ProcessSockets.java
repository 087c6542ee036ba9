package dev.quire.loadtest.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/** The TCP sockets a process listens on, from Linux's /proc (what {@code ss -ltnp} shows). */
final class ProcessSockets {
    record Listening(String address, int port) {
    }

    private ProcessSockets() {
    }

    static List<Listening> listening(long pid) throws IOException {
        Set<String> inodes = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        List<Listening> out = new ArrayList<>();
        for (String table : new String[]{"/proc/net/tcp", "/proc/net/tcp6"}) {
            Path p = Path.of(table);
            if (!Files.exists(p)) {
                continue;
            }
            for (String line : Files.readAllLines(p)) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 10 || !f[3].equals("0A") || !inodes.contains(f[9])) {
                    continue;
                }
                String[] local = f[1].split(":");
                out.add(new Listening(address(local[0]), Integer.parseInt(local[1], 16)));
            }
        }
        return out;
    }

    private static String address(String hex) {
        if (hex.length() == 8) {
            long v = Long.parseLong(hex, 16);
            return String.format(Locale.ROOT, "%d.%d.%d.%d", v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff,
                    (v >> 24) & 0xff);
        }
        if (hex.equals("00000000000000000000000000000000")) {
            return "::";
        }
        if (hex.equals("00000000000000000000000001000000")) {
            return "::1";
        }
        if (hex.startsWith("0000000000000000FFFF0000")) { // IPv4-mapped
            return address(hex.substring(24));
        }
        return "ipv6:" + hex;
    }
}
