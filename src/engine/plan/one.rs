//! Plans that act on one container or run one command: a container's
//! restart, stop, start or remove, and `exec` across a role's containers.

use super::*;

impl Planner<'_> {
    pub(super) fn container(
        &mut self,
        host: &HostName,
        container: &str,
        op: crate::engine::ContainerOp,
    ) -> Result<(), PlanError> {
        if !self.all_hosts(&self.roles.clone()).contains(host) {
            return Err(PlanError::NotOnHost {
                app: self.app_name.to_string(),
                host: host.to_string(),
            });
        }
        self.stages.push(stage(
            &format!("{op} {container}"),
            Step::Container {
                container: container.to_string(),
                op,
            },
            std::slice::from_ref(host),
        ));
        Ok(())
    }

    pub(super) fn exec(
        &mut self,
        role: Option<&RoleName>,
        host: Option<&HostName>,
        command: &[String],
    ) -> Result<(), PlanError> {
        let (role, hosts) = self.exec_hosts(role, host)?;
        if command.is_empty() {
            return Err(PlanError::NoCommand);
        }
        self.stages.push(stage(
            &format!("exec {role}"),
            Step::Exec {
                role,
                command: command.to_vec(),
            },
            &hosts,
        ));
        Ok(())
    }

    /// The role (the primary one unless named) and its hosts (or the one
    /// named) a command runs on.
    pub(super) fn exec_hosts(
        &self,
        role: Option<&RoleName>,
        host: Option<&HostName>,
    ) -> Result<(RoleName, Vec<HostName>), PlanError> {
        let role = role.unwrap_or(&self.app.primary_role).clone();
        if !self.app.roles.contains_key(&role) {
            return Err(unknown_role(self.app_name, &role, &self.roles));
        }
        let mut hosts = self
            .config
            .role_hosts(self.app_name, &role, self.dest)
            .to_vec();
        if let Some(h) = host {
            if !hosts.contains(h) {
                return Err(PlanError::NotOnHost {
                    app: format!("{}'s role {role}", self.app_name),
                    host: h.to_string(),
                });
            }
            hosts = vec![h.clone()];
        }
        Ok((role, hosts))
    }
}
