obj.spec.cancel = true
if obj.spec.cancelReason == nil then
  obj.spec.cancelReason = "cancelled from Argo CD"
end
return obj
