-- The actions Argo CD offers on a RegionWithdrawal. An approve action per
-- step, offered while that step waits for approval; suspend and resume;
-- cancel, before the cutoff has passed (after it, cancel is refused
-- unless spec.allowCancelAfterCutoff, which is for a person to set).
local actions = {}
local spec = obj.spec or {}
local status = obj.status or {}
local cancelled = spec.cancel == true
actions["suspend"] = { ["disabled"] = cancelled or spec.suspend == true }
actions["resume"] = { ["disabled"] = spec.suspend ~= true }
actions["cancel"] = { ["disabled"] = cancelled or status.phase == "Completed" }
for _, step in ipairs({ "notify", "export", "drain", "routing" }) do
  local waiting = false
  if status.steps ~= nil then
    for _, s in ipairs(status.steps) do
      if s.name == step and s.state == "WaitingForApproval" then
        waiting = true
      end
    end
  end
  actions["approve-" .. step] = { ["disabled"] = not waiting or cancelled }
end
return actions
