from django.urls import path

from flywheel.review import api, views, views_manage

app_name = "review"
urlpatterns = [
    path("", views.home, name="home"),
    path("q/<slug:slug>/next/", views.claim_next, name="claim_next"),
    path("items/<int:item_id>/", views.item_detail, name="item"),
    path("items/<int:item_id>/submit/", views.item_submit, name="item_submit"),
    path("items/<int:item_id>/skip/", views.item_skip, name="item_skip"),
    path("items/<int:item_id>/release/", views.item_release, name="item_release"),
    path("items/<int:item_id>/decline/", views.item_decline, name="item_decline"),
    path("items/<int:item_id>/undo/", views.item_undo, name="item_undo"),
    path("items/<int:item_id>/reopen/", views.item_reopen, name="item_reopen"),
    path("items/<int:item_id>/renew/", views.item_renew, name="item_renew"),
    path("items/<int:item_id>/reveal/", views.item_reveal, name="item_reveal"),
    path("items/<int:item_id>/preview/loss/", views.preview_loss, name="preview_loss"),
    path("items/<int:item_id>/preview/diff/<int:message_id>/", views.preview_diff, name="preview_diff"),
    path("api/queues/<slug:slug>/claim/", api.ClaimNextView.as_view(), name="api_claim"),
    path("queues/", views_manage.queue_list, name="queues"),
    path("queues/new/", views_manage.queue_edit, name="queue_new"),
    path("queues/<slug:slug>/", views_manage.queue_items, name="queue_items"),
    path("queues/<slug:slug>/edit/", views_manage.queue_edit, name="queue_edit"),
    path("queues/<slug:slug>/guidelines/", views_manage.queue_guidelines, name="queue_guidelines"),
    path("queues/<slug:slug>/bulk/", views_manage.queue_bulk, name="queue_bulk"),
    path("throughput/", views_manage.throughput, name="throughput"),
    path("agreement/", views_manage.agreement, name="agreement"),
    path("audit/", views_manage.audit_log, name="audit"),
]
