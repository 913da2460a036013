// Package auth decides, for every request, who is asking and what they may
// do: users and their bcrypt-hashed passwords, project roles, application
// credentials (robot accounts), the docker token service, the distribution
// access controller, and one check every management route calls.
package auth

// Project roles, weakest first.
const (
	RoleGuest     = "guest"     // pull
	RoleDeveloper = "developer" // pull, push, delete
	RoleAdmin     = "admin"     // and manage the project and its members
)

// Actions a principal may be granted on a project.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionManage = "manage" // project settings, members, deletion
)

var roleActions = map[string]map[string]bool{
	RoleGuest:     {ActionPull: true},
	RoleDeveloper: {ActionPull: true, ActionPush: true, ActionDelete: true},
	RoleAdmin:     {ActionPull: true, ActionPush: true, ActionDelete: true, ActionManage: true},
}

// ValidRole reports whether role is one of the project roles.
func ValidRole(role string) bool { _, ok := roleActions[role]; return ok }

// RoleAllows reports whether role grants action.
func RoleAllows(role, action string) bool { return roleActions[role][action] }
