import Media

// The daemon arrives with its own issue; for now report how it will be run.
print("conceptd: libavformat \(MediaLibrary.libavformatVersion)")
print("The daemon will run as: conceptd --config configs/demo.toml (see README).")
