import Learner
import SystemdSupport

/// The training loop reports its progress, waits and resumptions straight to the systemd watchdog.
extension WatchdogMonitor: TrainingObserver {}
