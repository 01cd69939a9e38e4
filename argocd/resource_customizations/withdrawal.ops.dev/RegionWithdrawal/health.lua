-- Argo CD health of a RegionWithdrawal, from its status and conditions.
--   Progressing: the operator has not observed this generation yet, or a
--                step is running.
--   Degraded:    Stalled (the spec cannot be carried out, a permission is
--                missing), or the cutoff passed with a step not done.
--   Suspended:   spec.suspend, or a due step waits for approval.
--   Healthy:     on schedule, completed or cancelled.
local hs = { status = "Progressing", message = "waiting for the operator" }
if obj.status == nil then
  return hs
end
local function condition(type)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end
if obj.metadata.generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < obj.metadata.generation) then
  hs.message = "the operator has not observed generation " .. obj.metadata.generation .. " yet"
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  return { status = "Degraded", message = stalled.reason .. ": " .. (stalled.message or "") }
end
local risk = condition("DeadlineAtRisk")
if risk ~= nil and risk.status == "True" and (risk.reason == "CutoffMissed" or risk.reason == "NoticesMissed") then
  return { status = "Degraded", message = risk.reason .. ": " .. (risk.message or "") }
end
local phase = obj.status.phase or ""
if phase == "Suspended" then
  return { status = "Suspended", message = "spec.suspend is true" }
end
if phase == "WaitingForApproval" then
  local ready = condition("Ready")
  return { status = "Suspended", message = (ready and ready.message) or "waiting for approval" }
end
if phase == "Completed" or phase == "Cancelled" then
  return { status = "Healthy", message = phase }
end
if phase == "Scheduled" then
  local next = obj.status.nextAction or "nothing"
  local at = obj.status.nextActionAt or ""
  return { status = "Healthy", message = "on schedule; next: " .. next .. " " .. at }
end
if phase == "Stalled" then
  return { status = "Degraded", message = "Stalled" }
end
hs.message = phase
return hs
