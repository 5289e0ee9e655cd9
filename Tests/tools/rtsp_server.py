#!/usr/bin/python3
"""A real RTSP server for conceptd's tests: GStreamer's gst-rtsp-server (Debian: gir1.2-gst-rtsp-server-1.0,
python3-gi, gstreamer1.0-plugins-{base,good,bad,ugly}, gstreamer1.0-libav) serving a live H.264 test pattern on
loopback.

    rtsp_server.py [--port 0] [--path /test] [--size 320x240] [--fps 25] [--protocols tcp|udp|any]
                   [--user NAME --password-file FILE] [--stall-after S] [--resize-after S --resize-to WxH]

Prints one line `READY rtsp://127.0.0.1:PORT/PATH` on stdout once it accepts connections, then serves until killed.
--stall-after stops sending media S seconds after a client's stream starts, keeping the session open (a camera that
hangs); --resize-after switches the picture size mid-stream (a camera that changes resolution); --user with
--password-file requires HTTP Basic authentication.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def size(text):
    w, h = text.lower().split("x")
    return int(w), int(h)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default="/test")
    p.add_argument("--size", type=size, default=(320, 240))
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--protocols", choices=["tcp", "udp", "any"], default="any")
    p.add_argument("--user")
    p.add_argument("--password-file")
    p.add_argument("--stall-after", type=float)
    p.add_argument("--resize-after", type=float)
    p.add_argument("--resize-to", type=size, default=(160, 120))
    a = p.parse_args()
    Gst.init(None)

    w, h = a.size
    launch = (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,framerate={a.fps}/1 ! videoscale ! "
        f"capsfilter name=size caps=video/x-raw,width={w},height={h} ! videoconvert ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={a.fps // 2} ! "
        "valve name=valve drop=false ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)
    protocols = {
        "tcp": GstRtsp.RTSPLowerTrans.TCP,
        "udp": GstRtsp.RTSPLowerTrans.UDP,
        "any": GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP,
    }[a.protocols]
    factory.set_protocols(protocols)

    def configured(_factory, media):
        pipeline = media.get_element()
        if a.stall_after is not None:
            valve = pipeline.get_by_name("valve")
            GLib.timeout_add(int(a.stall_after * 1000), lambda: valve.set_property("drop", True) and False)
        if a.resize_after is not None:
            caps = Gst.Caps.from_string("video/x-raw,width=%d,height=%d" % a.resize_to)
            capsfilter = pipeline.get_by_name("size")
            GLib.timeout_add(int(a.resize_after * 1000), lambda: capsfilter.set_property("caps", caps) and False)

    factory.connect("media-configure", configured)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    if a.user:
        with open(a.password_file, encoding="utf-8") as f:
            password = f.read().strip()
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, password), token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print("cannot listen", file=sys.stderr)
        return 1
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{a.path}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
