//! The process of `exec` when no `--process` file is given: like runc, the
//! container's own process (user, capabilities, rlimits, NNP, AppArmor, env)
//! with the command, extra environment, working directory, user and terminal
//! of the exec request laid over it.

use oci_spec::runtime::{Process, Spec, User};

use crate::ExecOptions;

/// Lays the request over the container's process.
pub fn exec_process(base: &Process, opts: &ExecOptions) -> Process {
    let mut p = base.clone();
    p.set_args(Some(opts.args.clone()));
    let mut env = base.env().clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some((uid, gid)) = opts.user {
        let mut user = User::default();
        user.set_uid(uid);
        user.set_gid(gid);
        p.set_user(user);
    }
    p.set_terminal(Some(opts.tty));
    p.set_console_size(None);
    if opts.privileged {
        p.set_capabilities(Some(caller_capabilities()));
    }
    p
}

/// The caller's bounding set as a full capability set (what a privileged
/// exec gets: never more than the runtime itself holds).
fn caller_capabilities() -> oci_spec::runtime::LinuxCapabilities {
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder};
    let set: oci_spec::runtime::Capabilities = caps::read(None, caps::CapSet::Bounding)
        .unwrap_or_default()
        .iter()
        .map(|c| <Capability as libcontainer::capabilities::CapabilityExt>::from_cap(*c))
        .collect();
    LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set.clone())
        .inheritable(oci_spec::runtime::Capabilities::new())
        .ambient(oci_spec::runtime::Capabilities::new())
        .build()
        .unwrap_or_default()
}

/// The container's process from its bundle, or a minimal default when the
/// bundle is gone (an engine may have removed it).
pub fn base_process(bundle_spec: Option<&Spec>) -> Process {
    bundle_spec
        .and_then(|s| s.process().clone())
        .unwrap_or_else(|| {
            let mut p = Process::default();
            p.set_env(Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]));
            p.set_capabilities(None);
            p.set_rlimits(None);
            p
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_laid_over_the_container_process() {
        let mut base = Process::default();
        base.set_env(Some(vec!["PATH=/bin".into(), "FOO=old".into()]));
        let mut u = User::default();
        u.set_uid(1000);
        u.set_gid(1000);
        base.set_user(u);
        let opts = ExecOptions {
            args: vec!["sh".into()],
            env: vec!["FOO=new".into(), "BAR=1".into()],
            tty: true,
            ..Default::default()
        };
        let p = exec_process(&base, &opts);
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(
            p.env().as_deref(),
            Some(&["PATH=/bin".to_string(), "FOO=new".into(), "BAR=1".into()][..])
        );
        assert_eq!(p.user().uid(), 1000, "the container's user by default");
        assert_eq!(p.terminal(), Some(true));
        let opts = ExecOptions {
            args: vec!["id".into()],
            user: Some((0, 0)),
            ..Default::default()
        };
        assert_eq!(exec_process(&base, &opts).user().uid(), 0);
        let opts = ExecOptions {
            args: vec!["id".into()],
            privileged: true,
            ..Default::default()
        };
        let caps = exec_process(&base, &opts)
            .capabilities()
            .clone()
            .expect("caps");
        let bounding = caps.bounding().clone().unwrap_or_default();
        // As root on this host: far more than a container's default 11.
        if nix::unistd::geteuid().is_root() {
            assert!(bounding.len() > 20, "{bounding:?}");
            assert_eq!(caps.effective().clone().unwrap_or_default(), bounding);
        }
    }
}
