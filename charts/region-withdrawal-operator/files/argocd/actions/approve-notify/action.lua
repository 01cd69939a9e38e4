-- Adds "notify" to spec.approvals. Under the chart's admission policy this
-- needs the approve verb: Argo CD's own account, or the person's when Argo
-- CD impersonates them, must hold it.
if obj.spec.approvals == nil then
  obj.spec.approvals = {}
end
for _, s in ipairs(obj.spec.approvals) do
  if s == "notify" then
    return obj
  end
end
table.insert(obj.spec.approvals, "notify")
return obj
