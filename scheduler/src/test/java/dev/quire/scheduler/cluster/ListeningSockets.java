package dev.quire.scheduler.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Reads Linux's table of listening TCP sockets (/proc/net/tcp and tcp6), as {@code ss -ltn} does. */
public final class ListeningSockets {
    private ListeningSockets() {
    }

    /** The local addresses of sockets listening on {@code port} ("0.0.0.0" means every interface). */
    public static List<String> addressesOn(int port) throws IOException {
        List<String> out = new ArrayList<>();
        for (String table : new String[]{"/proc/net/tcp", "/proc/net/tcp6"}) {
            Path p = Path.of(table);
            if (!Files.exists(p)) {
                continue;
            }
            for (String line : Files.readAllLines(p)) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 4 || !f[3].equals("0A")) { // 0A: LISTEN
                    continue;
                }
                String[] local = f[1].split(":");
                if (Integer.parseInt(local[1], 16) == port) {
                    out.add(address(local[0]));
                }
            }
        }
        return out;
    }

    private static String address(String hex) {
        if (hex.length() == 8) { // IPv4, little-endian
            long v = Long.parseLong(hex, 16);
            return String.format(Locale.ROOT, "%d.%d.%d.%d", v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff);
        }
        if (hex.startsWith("0000000000000000FFFF0000")) { // IPv4-mapped, ::ffff:a.b.c.d
            return address(hex.substring(24));
        }
        return hex.equals("00000000000000000000000000000000") ? "::" : "ipv6:" + hex;
    }
}
